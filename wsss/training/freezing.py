"""Frozen BatchNorm and frozen backbone stages, as the official codes train their pretrained backbones.

- batchnorm "train": every BatchNorm normalises with the batch's statistics and updates its running
  averages in training; its affine weight and bias train (this package's default).
- batchnorm "fixed_statistics": every backbone BatchNorm normalises with its (ImageNet) running
  statistics and never updates them; its affine weight and bias still train. IRN's and Puzzle-CAM's
  FixedBatchNorm (F.batch_norm(..., training=False)): IRN net/resnet50.py:11-14, Puzzle-CAM
  core/networks.py:28-30.
- batchnorm "frozen": as fixed_statistics, and the affine parameters do not train either. PSA's
  network/resnet38d.py:206-211 puts every BatchNorm in eval mode with requires_grad False.
- frozen_stages N: the backbone's first N stages get requires_grad False and stay in eval mode, so
  nothing in them changes (PSA's not_training blocks, IRN's detach after stage 2, Puzzle-CAM's and
  IRN's AffinityNet whose whole backbone is detached and in eval mode).

Freezing is applied once to the freshly built network (freeze) and must be re-applied after every
model.train(), which would put those modules back in training mode (keep_frozen; fit does it).
"""

from __future__ import annotations

from torch import nn

BATCHNORM_MODES = ("train", "fixed_statistics", "frozen")

#: attribute marking a module that keep_frozen puts back in eval mode after model.train()
HELD_IN_EVAL = "held_in_eval"


def _hold_in_eval(module: nn.Module) -> None:
    setattr(module, HELD_IN_EVAL, True)
    module.eval()


def freeze(backbone: nn.Module, batchnorm: str = "train", frozen_stages: int = 0) -> None:
    """Freeze a Backbone in place: its first frozen_stages stages entirely, its BatchNorms by batchnorm."""
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"unknown batchnorm mode {batchnorm!r} (expected one of {', '.join(BATCHNORM_MODES)})")
    stages = backbone.stages
    if not 0 <= frozen_stages <= len(stages):
        raise ValueError(f"frozen_stages {frozen_stages} is not in 0..{len(stages)} (the backbone's stages)")
    for stage in stages[:frozen_stages]:
        stage.requires_grad_(False)
        for module in stage.modules():
            _hold_in_eval(module)
    if batchnorm == "train":
        return
    for module in backbone.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            _hold_in_eval(module)
            if batchnorm == "frozen":
                module.requires_grad_(False)


def keep_frozen(model: nn.Module) -> nn.Module:
    """Put the modules that freeze marked back in eval mode (call after model.train()); returns model."""
    for module in model.modules():
        if getattr(module, HELD_IN_EVAL, False):
            module.eval()
    return model

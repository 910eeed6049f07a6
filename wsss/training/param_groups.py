"""The optimiser's parameter groups of a network: its pretrained backbone and its new layers, weights and biases.

The official codes give each kind of parameter its own multiple of the base learning rate and its
own weight decay, which GroupRule names:
- PSA (train_cls.py / train_aff.py) and Puzzle-CAM: backbone weights 1x with weight decay, backbone
  biases 2x without, new-layer weights 10x with, new-layer biases 20x without
  (head_lr_scale 10, bias_lr_scale 2, bias_weight_decay false);
- IRN (step/train_cam.py): backbone 1x, new layers 10x, weight decay on all (this package's default);
- EADER (train.py): one group at the base rate (head_lr_scale 1);
- wsolevaluation (main.py): ResNet-50's layer4 joins the classifier at 10x (head_stages 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class GroupRule:
    """How a network's parameters split into lr groups; the defaults give backbone 1x and head 10x, all decayed."""

    head_lr_scale: float = 10.0     # lr of the new layers as a multiple of the backbone's
    head_stages: int = 0            # the backbone's last stages that train at the head's lr
    bias_lr_scale: float = 1.0      # lr of every bias as a multiple of its part's lr
    bias_weight_decay: bool = True  # False: biases get no weight decay

    @classmethod
    def from_config(cls, cfg: dict) -> GroupRule:
        """The rule of a network section of the config (classifier, affinitynet, segmentation)."""
        return cls(head_lr_scale=float(cfg["head_lr_scale"]), head_stages=int(cfg["head_stages"]),
                   bias_lr_scale=float(cfg["bias_lr_scale"]), bias_weight_decay=bool(cfg["bias_weight_decay"]))


def _trainable(modules: Iterable[nn.Module]) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of the modules' parameters that require a gradient, in module order."""
    return [(name, p) for module in modules for name, p in module.named_parameters() if p.requires_grad]


def _is_bias(name: str) -> bool:
    """A bias of any layer (conv, linear, BatchNorm, GroupNorm): the parameter named 'bias'."""
    return name.rsplit(".", 1)[-1] == "bias"


def _part_groups(part: str, named: list[tuple[str, nn.Parameter]], lr_scale: float, rule: GroupRule) -> list[dict]:
    """One part's groups: a single group, or weights and biases apart when the rule treats biases otherwise."""
    if rule.bias_lr_scale == 1.0 and rule.bias_weight_decay:
        return [{"name": part, "params": [p for _, p in named], "lr_scale": lr_scale}]
    bias = {"name": f"{part}_bias", "params": [p for n, p in named if _is_bias(n)],
            "lr_scale": lr_scale * rule.bias_lr_scale}
    if not rule.bias_weight_decay:
        bias["weight_decay"] = 0.0
    return [{"name": part, "params": [p for n, p in named if not _is_bias(n)], "lr_scale": lr_scale}, bias]


def lr_groups(stages: Sequence[nn.Module], head: Sequence[nn.Module], lr: float,
              rule: GroupRule = GroupRule()) -> list[dict]:
    """SGD parameter groups of a network made of backbone stages and new (head) modules.

    The backbone's stages but the last rule.head_stages train at lr, the rest and the head at
    lr * head_lr_scale; with bias_lr_scale != 1 or without bias weight decay, each part's biases form
    their own group at (part lr) * bias_lr_scale (and weight decay 0). Parameters that do not require
    a gradient (frozen stages, frozen BatchNorm) are left out; empty groups are dropped. Each group's
    lr is lr * (product of its scales), the order PSA's `10*args.lr` / `20*args.lr` compute it in.
    """
    if not 0 <= rule.head_stages <= len(stages):
        raise ValueError(f"head_stages {rule.head_stages} is not in 0..{len(stages)} (the backbone's stages)")
    cut = len(stages) - rule.head_stages
    parts = [("backbone", _trainable(stages[:cut]), 1.0),
             ("head", _trainable(list(stages[cut:]) + list(head)), rule.head_lr_scale)]
    groups = [g for part, named, scale in parts for g in _part_groups(part, named, scale, rule)]
    for group in groups:
        scale = group.pop("lr_scale")
        group["lr"] = lr * scale
    return [g for g in groups if g["params"]]

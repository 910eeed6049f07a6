"""A network as a training job starts it: built from its seed, its backbone optionally from a classifier, frozen."""

from __future__ import annotations

import logging

import torch

from ..io.checkpoint import load
from .freezing import freeze


def network_to_train(build, cfg: dict, *, seed: int, classifier=None, log: logging.Logger | None = None,
                     **build_args):
    """build(cfg's backbone, pretrained, output_stride, **build_args) after torch.manual_seed(seed) (the
    segmenter's build_args: num_classes); its backbone then takes the classifier checkpoint's weights when
    one is given (AffinityNet's and the segmenter's init_from_classifier), and is frozen as cfg's
    batchnorm and frozen_stages say."""
    torch.manual_seed(seed)
    model = build(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"], **build_args)
    if classifier is not None:
        model.load_backbone_from_classifier(load(classifier)["state_dict"])
        (log or logging.getLogger("wsss")).info("backbone initialised from %s", classifier)
    freeze(model.backbone, cfg["batchnorm"], cfg["frozen_stages"])
    return model

"""Rebuild trained networks from the checkpoints the training rules write ({'arch', 'state_dict', ...})."""

from __future__ import annotations

from ..io.checkpoint import load
from .affinitynet import build_affinitynet
from .classifier import build_classifier
from .deeplab import build_segmenter


def _load(path, device, build):
    checkpoint = load(path)
    arch = checkpoint["arch"]
    # classifiers of K classes, segmenters of K + 1 (a segmenter saved without it has the default 21)
    extra = {"num_classes": arch["num_classes"]} if "num_classes" in arch else {}
    model = build(arch["backbone"], pretrained=False, output_stride=arch["output_stride"], **extra)
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def load_classifier(path, device):
    """The classifier saved by train_classifier, in eval mode on device."""
    return _load(path, device, build_classifier)


def load_affinitynet(path, device):
    """The AffinityNet saved by train_affinitynet, in eval mode on device."""
    return _load(path, device, build_affinitynet)


def load_segmenter(path, device):
    """The segmenter saved by train_segmenter, in eval mode on device."""
    return _load(path, device, build_segmenter)

"""Rebuild trained networks from the checkpoints the training rules write."""

from __future__ import annotations

from ..io.checkpoint import load
from .classifier import build_classifier


def load_classifier(path, device):
    """The classifier saved by train_classifier, in eval mode on device."""
    checkpoint = load(path)
    arch = checkpoint["arch"]
    model = build_classifier(arch["backbone"], pretrained=False, output_stride=arch["output_stride"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def load_affinitynet(path, device):
    """The AffinityNet saved by train_affinitynet, in eval mode on device."""
    from .affinitynet import build_affinitynet

    checkpoint = load(path)
    arch = checkpoint["arch"]
    model = build_affinitynet(arch["backbone"], pretrained=False, output_stride=arch["output_stride"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()


def load_segmenter(path, device):
    """The segmenter saved by train_segmenter, in eval mode on device."""
    from .deeplab import build_segmenter

    checkpoint = load(path)
    arch = checkpoint["arch"]
    model = build_segmenter(arch["backbone"], pretrained=False, output_stride=arch["output_stride"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.to(device).eval()

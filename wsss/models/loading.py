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

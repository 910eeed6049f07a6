"""The segmenter's loss: per-pixel cross-entropy over 21 classes, 255 ignored."""

from __future__ import annotations

import torch.nn.functional as F

from ..data.classes import IGNORE_INDEX


def segmentation_loss(model, batch, step=None):
    """Cross-entropy of model(images) (B, 21, H, W) against label crops (B, H, W): (loss, parts)."""
    images, labels = batch
    return F.cross_entropy(model(images), labels, ignore_index=IGNORE_INDEX), {}

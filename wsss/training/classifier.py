"""The classifier's loss: multi-label soft margin on image-level labels (CAM / IRN)."""

from __future__ import annotations

import torch.nn.functional as F


def multilabel_loss(model, batch):
    """Multi-label soft-margin loss of model(images) against multi-hot labels: (loss, parts)."""
    images, labels = batch
    loss = F.multilabel_soft_margin_loss(model(images), labels)
    return loss, {}

"""AffinityNet's batch loss: PSA pair sets from affinity-label crops, L_fg+ + L_bg+ + 2 L-."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..refine.pairs import affinity_loss, pair_affinities, pair_labels


def labels_at(labels: torch.Tensor, size) -> torch.Tensor:
    """(B, H, W) label crops -> (B, h, w) by nearest sampling at the feature grid."""
    return F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def affinity_batch_loss(radius: int):
    """A loss_fn(model, (images, labels), step) for the training loop."""

    def loss_fn(model, batch, step):
        images, labels = batch
        features = model(images)  # (B, 448, h, w)
        fg_pos, bg_pos, neg = pair_labels(labels_at(labels, features.shape[-2:]), radius)
        loss, parts = affinity_loss(pair_affinities(features, radius), fg_pos, bg_pos, neg)
        return loss, {name: float(parts[name]) for name in ("fg_pos", "bg_pos", "neg")}

    return loss_fn

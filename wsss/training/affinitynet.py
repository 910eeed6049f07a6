"""AffinityNet's batch loss: PSA pair sets from affinity-label crops, and the affinity loss on them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..refine.pairs import affinity_loss, pair_affinities, pair_labels


def labels_at(labels: torch.Tensor, size) -> torch.Tensor:
    """(B, H, W) label crops -> (B, h, w) by nearest sampling at the feature grid."""
    return F.interpolate(labels[:, None].float(), size=tuple(size), mode="nearest")[:, 0].long()


def affinity_batch_loss(radius: int, loss: str = "paper", pair_set: str = "all_in_image"):
    """A loss_fn(model, (images, labels), step) for the training loop.

    loss: the form of ``wsss.refine.pairs.affinity_loss`` ("paper" L_fg+ + L_bg+ + 2 L-, or
    "psa_code" L_bg+ / 4 + L_fg+ / 4 + L- / 2); pair_set: the pairs trained on ("all_in_image", or
    "psa" = the pairs starting in PSA's valid crop of the feature map).
    """

    def loss_fn(model, batch, step):
        images, labels = batch
        features = model(images)  # (B, 448, h, w)
        fg_pos, bg_pos, neg = pair_labels(labels_at(labels, features.shape[-2:]), radius, pair_set)
        value, parts = affinity_loss(pair_affinities(features, radius, pair_set), fg_pos, bg_pos, neg, form=loss)
        return value, {name: parts[name].item() for name in ("fg_pos", "bg_pos", "neg")}

    return loss_fn

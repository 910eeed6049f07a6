"""CutMix (Yun, Han, Oh, Chun, Choe & Yoo, ICCV 2019): paste a box of a partner image, mix the labels.

With probability prob a training batch is mixed: lambda ~ Beta(beta, beta); a box of
int(H sqrt(1 - lambda)) x int(W sqrt(1 - lambda)) pixels, centred at a uniformly drawn pixel and
clipped to the image, is cut from each image's partner (the batch in a random permutation) and
pasted in place. One lambda, box and permutation serve the whole batch. lambda is then recomputed
as the share of the image left unpasted, 1 - box area / (H W), and the targets become
lambda y_a + (1 - lambda) y_b.
- Multi-label (VOC): a soft multi-hot target per class. The multi-label soft margin loss is linear
  in its targets, so this equals lambda L(y_a) + (1 - lambda) L(y_b), class by class.
- Single-label (CUB): a probability target for the softmax cross-entropy, which is the same
  linearity: lambda CE(y_a) + (1 - lambda) CE(y_b), CutMix's own loss. L_cls of
  wsss.training.classifier takes (B, K) targets as probabilities, so it needs nothing else.
At inference nothing is mixed: the CAMs are the plain classifier's.

Defaults: beta 1.0 (lambda uniform in [0, 1]) and prob 1.0 (every batch), wsolevaluation's
config.py (`--cutmix_beta`, `--cutmix_prob`, both default 1.0); its main.py mixes a batch when
cutmix_prob > a uniform draw and weights the two cross-entropies by the recomputed lambda. The box's
size and centre are as in its wsol/method/cutmix.py rand_bbox, whose box spans centre +- cut // 2;
here it spans the full cut size from centre - cut // 2. Every draw comes from torch's global
generator, which the training loop checkpoints.
"""

from __future__ import annotations

import math

import torch

from .base import ClassifierMethod, register


def cut_box(height: int, width: int, lam: float, centre: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), bottom and right exclusive: the box of int(H sqrt(1 - lam)) x
    int(W sqrt(1 - lam)) pixels whose first row and column are centre - size // 2, clipped to the image."""
    ratio = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * ratio), int(width * ratio)
    cy, cx = centre
    top, left = cy - cut_h // 2, cx - cut_w // 2
    return (min(max(top, 0), height), min(max(top + cut_h, 0), height),
            min(max(left, 0), width), min(max(left + cut_w, 0), width))


def kept_fraction(box: tuple[int, int, int, int], height: int, width: int) -> float:
    """lambda after clipping: the fraction of the H x W image outside the box."""
    top, bottom, left, right = box
    return 1.0 - (bottom - top) * (right - left) / (height * width)


def paste_box(images: torch.Tensor, partner: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """images (B, C, H, W) with box of each image replaced by that of image partner[i] (partner: (B,)
    indices); a new tensor, the input untouched."""
    top, bottom, left, right = box
    mixed = images.clone()
    mixed[..., top:bottom, left:right] = images[partner.to(images.device), :, top:bottom, left:right]
    return mixed


def mix_targets(labels: torch.Tensor, partner: torch.Tensor, lam: float) -> torch.Tensor:
    """lam y + (1 - lam) y[partner]: (B, K) multi-hot or one-hot targets -> soft (B, K) float targets."""
    labels = labels.float()
    return lam * labels + (1.0 - lam) * labels[partner.to(labels.device)]


def draw_mix(batch: int, height: int, width: int, beta: float):
    """(partner (B,), box, lambda) of one CutMix draw: lambda ~ Beta(beta, beta), a permutation of the
    batch and a uniform box centre; lambda is the recomputed kept fraction."""
    if beta <= 0:
        raise ValueError(f"cutmix beta must be positive, got {beta}")
    concentration = torch.tensor(float(beta))
    lam = torch.distributions.Beta(concentration, concentration).sample().item()
    partner = torch.randperm(batch)
    centre = (int(torch.randint(height, ())), int(torch.randint(width, ())))
    box = cut_box(height, width, lam, centre)
    return partner, box, kept_fraction(box, height, width)


def cutmix(images: torch.Tensor, labels: torch.Tensor, *, beta: float, prob: float):
    """(images, targets) of a batch after CutMix, which happens with probability prob (else the batch
    as it came, with its labels as float). images (B, C, H, W), labels (B, K)."""
    if torch.rand(()).item() >= prob:
        return images, labels.float()
    partner, box, lam = draw_mix(images.shape[0], images.shape[-2], images.shape[-1], beta)
    return paste_box(images, partner, box), mix_targets(labels, partner, lam)


@register("cutmix")
class CutMix(ClassifierMethod):
    """The localizer's step trains on a CutMix batch with area-mixed soft targets."""

    defaults = {"beta": 1.0, "prob": 1.0}

    def transform_batch(self, images, labels, step):
        return cutmix(images, labels, beta=self.settings["beta"], prob=self.settings["prob"])

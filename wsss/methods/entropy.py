"""Entropy regularisation of the classifier (Hwang, Ha, Shim & Choe, Pattern Recognition Letters 2023).

A classifier trained to be over-confident concentrates its evidence on the most discriminative part
of an object, and its CAM shrinks with it. The paper adds lambda * KL(u || p), the divergence of the
predicted distribution p from the uniform u, to the classification loss; the comparisons it draws are
label smoothing (Szegedy et al. CVPR 2016) and the confidence penalty -H(p) (Pereyra et al. 2017).

Single-label (softmax over K classes): p = softmax(z), u = 1/K.
Multi-label (VOC, one sigmoid per class): each class is its own binary distribution
p = (sigmoid(z), 1 - sigmoid(z)) against u = (1/2, 1/2); terms are averaged over classes and images.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import ClassifierMethod, register

KINDS = ("none", "entropy", "label_smoothing", "confidence_penalty")


def _log_probs(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Log-probabilities with the outcomes on the last axis: (B, K, 2) binary pairs or (B, K) softmax."""
    if multilabel:
        return torch.stack([F.logsigmoid(logits), F.logsigmoid(-logits)], dim=-1)  # log(p), log(1 - p)
    return F.log_softmax(logits, dim=-1)


def kl_uniform(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """KL(u || p) = -log K - mean_k log p_k with u uniform, averaged over images (and classes, multi-label).

    logits: (B, K). Multi-label: per class -log 2 - (log sigmoid(z) + log sigmoid(-z)) / 2. Zero at
    z = 0 (multi-label) or at equal logits (single-label).
    """
    log_p = _log_probs(logits, multilabel)
    outcomes = log_p.shape[-1]
    return (-math.log(outcomes) - log_p.mean(-1)).mean()


def entropy(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """Mean entropy H(p) = -sum_k p_k log p_k of the binary pairs (multi-label) or of the softmax."""
    log_p = _log_probs(logits, multilabel)
    return -(log_p.exp() * log_p).sum(-1).mean()


def confidence_penalty(logits: torch.Tensor, multilabel: bool) -> torch.Tensor:
    """-H(p) (Pereyra et al. 2017): adding lambda times this to the loss rewards higher entropy."""
    return -entropy(logits, multilabel)


def smooth_labels(labels: torch.Tensor, epsilon: float, multilabel: bool) -> torch.Tensor:
    """Label-smoothing targets: y (1 - eps) + eps / 2 per binary class, or y (1 - eps) + eps / K over K classes.

    labels: (B, K) multi-hot (multi-label) or one-hot (single-label), float.
    """
    labels = labels.float()
    outcomes = 2 if multilabel else labels.shape[-1]
    return labels * (1.0 - epsilon) + epsilon / outcomes


def _one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(B,) class indices -> (B, K) float one-hot; (B, K) targets are returned as float unchanged."""
    if labels.dim() == 1:
        return F.one_hot(labels.long(), num_classes).float()
    return labels.float()


def regularised_classification_loss(logits: torch.Tensor, labels: torch.Tensor, *, kind: str, lam: float,
                                    multilabel: bool = True):
    """Classification loss plus one regulariser: (loss, parts) with parts a dict of floats.

    logits: (B, K). labels: (B, K) multi-hot (multi-label); (B,) indices or (B, K) one-hot otherwise.
    kind: "none"; "entropy" adds lam * KL(u || p); "label_smoothing" smooths the targets with
    epsilon = lam; "confidence_penalty" adds lam * (-H(p)). The base loss is the multi-label soft
    margin loss (mean of per-class binary cross-entropies) or the softmax cross-entropy.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown classifier regulariser {kind!r}; expected one of {', '.join(KINDS)}")
    targets = labels.float() if multilabel else _one_hot(labels, logits.shape[-1])
    if kind == "label_smoothing":
        targets = smooth_labels(targets, lam, multilabel)
    if multilabel:
        base = F.multilabel_soft_margin_loss(logits, targets)
    else:
        base = F.cross_entropy(logits, targets)  # soft (probability) targets
    parts = {"cls": base.item()}
    if kind == "entropy":
        reg = kl_uniform(logits, multilabel)
    elif kind == "confidence_penalty":
        reg = confidence_penalty(logits, multilabel)
    else:
        return base, parts
    parts[kind] = reg.item()
    return base + lam * reg, parts


class LogitRegulariser(ClassifierMethod):
    """A regulariser of the logits: L_cls becomes regularised_classification_loss of its kind (its name),
    weighted by the setting `weight_key`."""

    regulariser = True
    weight_key: str = "lambda"

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor):
        return regularised_classification_loss(logits, labels, kind=self.name, lam=self.settings[self.weight_key],
                                               multilabel=self.multilabel)


@register("entropy")
class EntropyRegularisation(LogitRegulariser):
    """+ lambda KL(u || p) (Hwang et al. 2023)."""

    defaults = {"lambda": 1.0e-4}


@register("label_smoothing")
class LabelSmoothing(LogitRegulariser):
    """Targets y (1 - epsilon) + epsilon / 2 per binary class (Szegedy et al. 2016)."""

    defaults = {"epsilon": 0.1}
    weight_key = "epsilon"


@register("confidence_penalty")
class ConfidencePenalty(LogitRegulariser):
    """+ lambda (-H(p)) (Pereyra et al. 2017)."""

    defaults = {"lambda": 0.1}

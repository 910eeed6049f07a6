"""The classifier's loss for an experiment's list of methods; the terms add with their weights.

- always: L_cls, the multi-label soft-margin loss of the GAP logits (CAM / IRN; the softmax
  cross-entropy for single-label data such as CUB), optionally with one
  regulariser of the logits: 'entropy' (+ lambda KL(u || p)), 'label_smoothing' or
  'confidence_penalty' (wsss.methods.entropy);
- 'puzzle': + L_p-cls + alpha(t) * L_re (wsss.methods.puzzle);
- 'eader': the model is a LocalizerAdversary; on the localizer's turn + alpha * L_am + beta * mean(A),
  on the adversary's turn only the adversary's BCE on erased images (wsss.methods.eader).
With 'puzzle' and 'eader' together the localizer is trained with the Puzzle-CAM terms and the EADER
terms, its attention taken from the whole image's class maps.
"""

from __future__ import annotations

import torch.nn.functional as F

from ..methods import eader as eader_method
from ..methods import puzzle as puzzle_method
from ..methods.entropy import regularised_classification_loss

REGULARISERS = ("entropy", "label_smoothing", "confidence_penalty")
METHODS = ("puzzle", "eader") + REGULARISERS


def classification_loss(logits, labels, multilabel: bool = True):
    """L_cls of (B, C) logits: multi-label soft margin (mean per-class BCE) against multi-hot labels, or
    the softmax cross-entropy against one-hot labels (single-label data)."""
    if multilabel:
        return F.multilabel_soft_margin_loss(logits, labels)
    return F.cross_entropy(logits, labels.argmax(dim=1))


def _erased_pairs(features, cams, logits, images, labels, cfg):
    """EADER's erasing: each (image, class) pair's image with the localizer's attention masked out.

    Returns (erased images (N, 3, H, W), class index (N,), image index (N,), attention (N, 1, H, W)).
    """
    image_index, class_index = eader_method.labelled_pairs(labels)
    maps = eader_method.pair_class_maps(features, cams, logits, image_index, class_index, cfg["attention"])
    attention = eader_method.normalised_attention(maps, images.shape[-2:], cfg["normalisation"])
    mask = eader_method.soft_mask(attention, cfg["omega"], cfg["sigma"])
    return eader_method.erase(images[image_index], mask), class_index, image_index, attention


def _adversary_loss(model, images, labels, cfg, multilabel):
    """EADER's adversary turn: classify images erased by the (fixed) localizer's attention."""
    features = model.localizer.features(images)
    cams = model.localizer.head(features)
    erased, _, image_index, _ = _erased_pairs(features, cams, cams.mean(dim=(2, 3)), images, labels, cfg)
    loss = classification_loss(model.adversary(erased.detach()), labels[image_index], multilabel)
    return loss, {"adversary": loss.item()}


def classifier_loss(methods, puzzle: dict | None = None, eader: dict | None = None, weight: float = 0.0,
                    multilabel: bool = True):
    """loss_fn(model, (images, labels), step) for a list of methods drawn from METHODS.

    puzzle: {grid, alpha, ramp, p_cls, re}; eader: {omega, sigma, alpha, beta, switch_every, attention,
    normalisation};
    weight: lambda of the listed regulariser (epsilon for label smoothing). The model is a
    Classifier, or a LocalizerAdversary when 'eader' is listed. multilabel False: labels are one-hot
    and every classification term is a softmax cross-entropy (EADER's mining score a softmax probability).
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown classifier methods {sorted(unknown)} (known: {', '.join(METHODS)})")
    regularisers = [m for m in methods if m in REGULARISERS]
    if len(regularisers) > 1:
        raise ValueError(f"at most one classifier regulariser at a time, got {regularisers}")
    kind = regularisers[0] if regularisers else "none"
    use_puzzle, use_eader = "puzzle" in methods, "eader" in methods

    def loss_fn(model, batch, step):
        images, labels = batch
        if use_eader and eader_method.phase(step.iteration, eader["switch_every"]) == "adversary":
            return _adversary_loss(model, images, labels, eader, multilabel)
        localizer = model.localizer if use_eader else model
        features = localizer.features(images)
        cams = localizer.head(features)               # (B, C, h, w) raw class maps
        logits = cams.mean(dim=(2, 3))                # GAP of the maps == head(GAP(features))
        loss, parts = regularised_classification_loss(logits, labels, kind=kind, lam=weight, multilabel=multilabel)
        if use_puzzle:
            grid = tuple(puzzle["grid"])
            merged = puzzle_method.merge(localizer.class_maps(puzzle_method.tile(images, grid)), grid)
            if puzzle["p_cls"]:
                p_cls = classification_loss(merged.mean(dim=(2, 3)), labels, multilabel)
                loss = loss + p_cls
                parts["p_cls"] = p_cls.item()
            if puzzle["re"]:
                alpha = puzzle_method.alpha_schedule(step.progress, puzzle["alpha"], puzzle["ramp"])
                re = puzzle_method.reconstruction_loss(cams, merged, labels)
                loss = loss + alpha * re
                parts.update(re=re.item(), alpha=alpha)
        if use_eader:
            erased, class_index, _, attention = _erased_pairs(features, cams, logits, images, labels, eader)
            with eader_method.frozen(model.adversary):
                adversary_logits = model.adversary(erased)
            mining = eader_method.attention_mining_loss(adversary_logits, class_index, multilabel)
            area = attention.mean()
            loss = loss + eader["alpha"] * mining + eader["beta"] * area
            parts.update(mining=mining.item(), area=area.item())
        return loss, parts

    return loss_fn

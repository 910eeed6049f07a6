"""A frozen copy of the classifier's loss, network set-up and inference attention as they were before the
method interface (wsss.methods.base), for tests/test_method_interface.py only.

Its one purpose is the before/after comparison: the methods expressed through the interface must give
bitwise the same losses, parts and gradients as this if-chain on the CPU. It calls the unchanged formula
functions of wsss.methods (puzzle, eader, entropy, gradcam); only the dispatch around them is copied.
"""

from __future__ import annotations

import torch.nn.functional as F

from wsss.methods import eader as eader_method
from wsss.methods import puzzle as puzzle_method
from wsss.methods.eader import LocalizerAdversary
from wsss.methods.entropy import regularised_classification_loss
from wsss.methods.gradcam import grad_cams

REGULARISERS = ("entropy", "label_smoothing", "confidence_penalty")
METHODS = ("puzzle", "eader") + REGULARISERS


def classification_loss(logits, labels, multilabel: bool = True):
    if multilabel:
        return F.multilabel_soft_margin_loss(logits, labels)
    return F.cross_entropy(logits, labels.argmax(dim=1))


def _erased_pairs(features, cams, logits, images, labels, cfg):
    image_index, class_index = eader_method.labelled_pairs(labels)
    maps = eader_method.pair_class_maps(features, cams, logits, image_index, class_index, cfg["attention"])
    attention = eader_method.normalised_attention(maps, images.shape[-2:], cfg["normalisation"])
    mask = eader_method.soft_mask(attention, cfg["omega"], cfg["sigma"])
    return eader_method.erase(images[image_index], mask), class_index, image_index, attention


def _adversary_loss(model, images, labels, cfg, multilabel):
    features = model.localizer.features(images)
    cams = model.localizer.head(features)
    erased, _, image_index, _ = _erased_pairs(features, cams, cams.mean(dim=(2, 3)), images, labels, cfg)
    loss = classification_loss(model.adversary(erased.detach()), labels[image_index], multilabel)
    return loss, {"adversary": loss.item()}


def classifier_loss(methods, puzzle: dict | None = None, eader: dict | None = None, weight: float = 0.0,
                    multilabel: bool = True):
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
        cams = localizer.head(features)
        logits = cams.mean(dim=(2, 3))
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


def regulariser_weight(cfg: dict, methods) -> float:
    """workflow_scripts/train_classifier.py's weight of the listed regulariser."""
    return next((cfg[m].get("lambda", cfg[m].get("epsilon")) for m in REGULARISERS if m in methods), 0.0)


def trained_networks(model, make_adversary, methods, lr: float, adversary_lr_scale: float, rule):
    """workflow_scripts/train_classifier.py's (trained module, parameter groups, extra checkpoint entries)."""
    trained, groups = model, model.param_groups(lr, rule)
    if "eader" in methods:
        trained = LocalizerAdversary(model, make_adversary())
        groups = trained.param_groups(lr, lr * adversary_lr_scale, rule)
    extra = {"adversary_state_dict": trained.adversary.state_dict()} if "eader" in methods else {}
    return trained, groups, extra


def class_attention(model, images, method: str):
    if method == "cam":
        return model.class_maps(images)
    if method == "gradcam":
        maps = grad_cams(model, images)
        return maps * (maps.shape[-2] * maps.shape[-1])
    raise ValueError(f"unknown attention method {method!r}")

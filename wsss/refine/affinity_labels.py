"""Confident foreground / background / neutral labels from CAMs, the targets of AffinityNet.

PSA (Ahn & Kwak, CVPR 2018), affinity labels: CAMs + background (1 - max_c CAM)^alpha, refined by a dense
CRF, once with a small alpha (background amplified: what stays an object is confident
foreground) and once with a large alpha (background weakened: what stays background is confident
background). IRN (Ahn, Cho & Kwak, CVPR 2019), inter-pixel relation labels (cam_to_ir_label): the same with constant
background thresholds and a label CRF. Output label maps hold 0 (background), the class ids of
``keys`` (1..20) and IGNORE_INDEX (255, neutral).
"""

from __future__ import annotations

import numpy as np

from wsss.data.classes import IGNORE_INDEX
from wsss.methods.cam import background_score, cams_to_labels
from wsss.refine.crf import crf_inference, crf_on_labels

#: Keeps the per-pixel score normalisation away from 0 / 0.
_EPS = 1e-8

#: What PSA's CRF is given as probabilities (see ``crf_labels_with_alpha``).
CRF_SCORES = ("normalised", "raw")


def _class_index(keys: np.ndarray) -> np.ndarray:
    """(K + 1,) map from compact label (0 = background, k = keys[k - 1]) to class id."""
    return np.concatenate([[0], np.asarray(keys, dtype=np.int64).reshape(-1)])


def crf_labels_with_alpha(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, alpha: float,
                          scores: str = "normalised", **crf_kwargs) -> np.ndarray:
    """PSA: argmax of the CRF over [ (1 - max CAM)^alpha ; CAMs ] -> (H, W) class ids.

    scores "normalised": the K + 1 scores divided by their per-pixel sum are the CRF's
    probabilities; "raw": the scores themselves, as PSA's infer_cls.py:91-94 passes them to
    unary_from_softmax (tool/imutils.py:209). The unary -log(clip(p, 1e-5, 1)) differs between the
    two by a per-pixel constant, which mean field ignores, except where the 1e-5 clip acts.
    """
    cams = np.asarray(cams, dtype=np.float32)
    stacked = np.concatenate([background_score(cams, alpha)[None], cams], axis=0)  # (K + 1, H, W)
    if scores == "normalised":
        probs = stacked / (stacked.sum(0, keepdims=True) + _EPS)
    elif scores == "raw":
        probs = stacked
    else:
        raise ValueError(f"unknown CRF scores {scores!r} (expected one of {CRF_SCORES})")
    marginals = crf_inference(image, probs, **crf_kwargs)
    return _class_index(keys)[marginals.argmax(0)]


def psa_affinity_labels(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, *, alpha_low: float = 4,
                        alpha_high: float = 32, scores: str = "normalised",
                        crf_kwargs: dict | None = None) -> np.ndarray:
    """PSA affinity labels (H, W) uint8: low-alpha CRF objects -> class, high-alpha CRF background -> 0, else 255.

    image: uint8 (H, W, 3); cams: (K, H, W) max-normalised CAMs of the image's classes;
    keys: (K,) their class ids 1..20; scores: see ``crf_labels_with_alpha``. As in PSA's code
    (voc12/data.py:226-228), a pixel that both CRFs claim (an object at low alpha, background at
    high alpha) becomes background.
    """
    crf_kwargs = crf_kwargs or {}
    low = crf_labels_with_alpha(image, cams, keys, alpha_low, scores, **crf_kwargs)  # bg amplified
    high = crf_labels_with_alpha(image, cams, keys, alpha_high, scores, **crf_kwargs)  # bg weakened
    labels = np.where(low != 0, low, IGNORE_INDEX)
    labels[high == 0] = 0
    return labels.astype(np.uint8)


def irn_affinity_labels(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, *, fg_threshold: float = 0.30,
                        bg_threshold: float = 0.05, crf_kwargs: dict | None = None) -> np.ndarray:
    """IRN affinity labels (H, W) uint8 (cam_to_ir_label): thresholded argmax -> label CRF, twice.

    The CRF of the argmax with a constant background at fg_threshold gives confident foreground
    (its object pixels); with bg_threshold it gives confident background (its background pixels);
    foreground wins where both claim a pixel; the rest is 255 (irn step/cam_to_ir_label.py:26-40).
    cams: (K, H, W) max-normalised; crf_kwargs: ``crf_on_labels``'s settings (IRN's own by default,
    irn misc/imutils.py:156-170).
    """
    crf_kwargs = crf_kwargs or {}
    cams = np.asarray(cams, dtype=np.float32)
    index = _class_index(keys)
    if len(index) == 1:  # no object class: the CRF has nothing to compete with background
        return np.zeros(cams.shape[1:], dtype=np.uint8)
    compact = np.arange(len(index))  # labels in the CRF's own 0..K space
    fg = index[crf_on_labels(image, cams_to_labels(cams, compact[1:], fg_threshold), len(index),
                             **crf_kwargs)]
    bg = index[crf_on_labels(image, cams_to_labels(cams, compact[1:], bg_threshold), len(index),
                             **crf_kwargs)]
    labels = np.where(fg != 0, fg, IGNORE_INDEX)
    labels[(fg == 0) & (bg == 0)] = 0
    return labels.astype(np.uint8)


def affinity_label_stats(aff_labels: np.ndarray, gt: np.ndarray) -> dict[str, int]:
    """Counts for scoring affinity labels against a (H, W) ground truth; sum them over a dataset.

    valid: gt != 255; confident: valid and label != 255; correct: confident and label == gt;
    *_fg / *_bg: the same restricted to labels in 1..20 / labels == 0.
    precision = correct / confident, coverage = confident / valid (see ``affinity_label_scores``).
    """
    aff_labels = np.asarray(aff_labels)
    gt = np.asarray(gt)
    if aff_labels.shape != gt.shape:
        raise ValueError(f"affinity labels {aff_labels.shape} and ground truth {gt.shape} differ in shape")
    valid = gt != IGNORE_INDEX
    confident = valid & (aff_labels != IGNORE_INDEX)
    correct = confident & (aff_labels == gt)
    fg = aff_labels != 0
    bg = aff_labels == 0
    return {
        "valid": int(valid.sum()),
        "confident": int(confident.sum()),
        "correct": int(correct.sum()),
        "confident_fg": int((confident & fg).sum()),
        "correct_fg": int((correct & fg).sum()),
        "confident_bg": int((confident & bg).sum()),
        "correct_bg": int((correct & bg).sum()),
    }


def affinity_label_scores(stats: dict[str, int]) -> dict[str, float]:
    """Precision (all / fg / bg) and coverage from (summed) ``affinity_label_stats`` counts; NaN when undefined."""
    def ratio(num: int, den: int) -> float:
        return num / den if den else float("nan")

    return {
        "precision": ratio(stats["correct"], stats["confident"]),
        "precision_fg": ratio(stats["correct_fg"], stats["confident_fg"]),
        "precision_bg": ratio(stats["correct_bg"], stats["confident_bg"]),
        "coverage": ratio(stats["confident"], stats["valid"]),
    }

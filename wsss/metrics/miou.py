"""Semantic segmentation mIoU from one confusion matrix accumulated over a split.

A class absent from both ground truth and prediction over the whole split has no IoU (0 / 0). Two rules
for it, selectable by name (config evaluation.absent_classes):
- "skip": left out of the mean (IRN step/eval_cam.py and eval_sem_seg.py: np.nanmean of diag / union).
- "zero": IoU 0, the mean over every class (Puzzle-CAM evaluate.py and tools/ai/evaluate_utils.py,
  EADER metrics.py: intersection / (union + 1e-10) averaged over all 21 classes).
"""

from __future__ import annotations

import numpy as np

from ..data.classes import IGNORE_INDEX


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int = 21,
                     ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(num_classes, num_classes) int64 counts, rows = ground truth, columns = prediction.

    Pixels whose ground truth is ignore_index are skipped; pred and gt must have the same shape.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    valid = gt != ignore_index
    gt_v = gt[valid].astype(np.int64)
    pred_v = pred[valid].astype(np.int64)
    if gt_v.size and (gt_v.max() >= num_classes or pred_v.max() >= num_classes or pred_v.min() < 0):
        raise ValueError(f"labels outside 0..{num_classes - 1} in prediction or ground truth")
    return np.bincount(gt_v * num_classes + pred_v, minlength=num_classes**2).reshape(num_classes, num_classes)


#: Names of the rules for a class absent from both ground truth and prediction.
ABSENT_CLASS_RULES = ("skip", "zero")


def _check_rule(absent: str) -> None:
    if absent not in ABSENT_CLASS_RULES:
        raise ValueError(f"absent-class rule {absent!r} is not one of {ABSENT_CLASS_RULES}")


def iou_per_class(confusion: np.ndarray, absent: str = "skip") -> np.ndarray:
    """IoU = TP / (GT + Pred - TP) per class; a class absent from both ground truth and prediction gets
    NaN (absent "skip") or 0.0 (absent "zero")."""
    _check_rule(absent)
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    return np.where(union > 0, tp / np.maximum(union, 1), np.nan if absent == "skip" else 0.0)


def mean_iou(confusion: np.ndarray, absent: str = "skip") -> float:
    """Mean IoU: over the classes that occur in ground truth or prediction (absent "skip"; NaN when none
    does), or over every class, absent ones counting 0 (absent "zero")."""
    iou = iou_per_class(confusion, absent)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

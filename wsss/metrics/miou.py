"""Semantic segmentation mIoU from one confusion matrix accumulated over a split."""

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


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """IoU = TP / (GT + Pred - TP) per class; NaN for a class absent from both ground truth and prediction."""
    tp = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU over the classes that occur in ground truth or prediction (NaNs skipped)."""
    iou = iou_per_class(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")

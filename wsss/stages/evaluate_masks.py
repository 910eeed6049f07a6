"""Evaluation stages for folders of label PNGs: pseudo masks, segmentation and affinity labels, each scored
against the ground-truth mask of the evaluation protocol (wsss.metrics.ground_truth)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data.classes import dataset_class_names
from ..data.voc import VOCLayout, load_mask
from ..errors import DatasetError
from ..io.png import read_label_png
from ..metrics.ground_truth import ground_truth_mask
from ..metrics.miou import confusion_matrix, iou_per_class, mean_iou
from ..refine.affinity_labels import affinity_label_scores, affinity_label_stats


def _pairs(pred_dir, root, image_ids, progress, desc, masks, num_classes):
    """(image_id, prediction, ground truth) for each id that has a ground-truth mask (values 0..num_classes, 255)."""
    layout, pred_dir = VOCLayout(root), Path(pred_dir)
    for image_id in tqdm(image_ids, desc=desc, disable=not progress, mininterval=5):
        mask_path = ground_truth_mask(layout, image_id, masks)
        if mask_path is None:
            continue
        pred_path = pred_dir / f"{image_id}.png"
        if not pred_path.exists():
            raise DatasetError(f"{pred_path}: prediction missing for image {image_id!r}")
        pred = read_label_png(pred_path)
        yield image_id, pred, load_mask(mask_path, expected_size=pred.shape, num_classes=num_classes)


def evaluate_mask_folder(pred_dir, root, image_ids, *, absent: str = "skip", masks: str = "auto",
                         progress: bool = True) -> pd.DataFrame:
    """One row: number of scored images, mIoU and per-class IoU of a folder of label PNGs.

    absent: the mIoU rule for classes absent from ground truth and prediction (wsss.metrics.miou);
    masks: the ground-truth folder (ground_truth_mask). The classes are the root's (dataset_class_names).
    """
    names = dataset_class_names(root)
    confusion = np.zeros((len(names),) * 2, dtype=np.int64)
    n = 0
    for _, pred, gt in _pairs(pred_dir, root, image_ids, progress, "evaluate", masks, len(names) - 1):
        confusion += confusion_matrix(pred, gt, num_classes=len(names))
        n += 1
    return pd.DataFrame([{"n_images": n, "miou": mean_iou(confusion, absent),
                          **{f"iou_{name}": v for name, v in zip(names, iou_per_class(confusion, absent))}}])


def evaluate_affinity_label_folder(label_dir, root, image_ids, *, absent: str = "skip", masks: str = "auto",
                                   progress: bool = True) -> pd.DataFrame:
    """One row: precision (all / fg / bg) of the confident pixels, their coverage, and their mIoU."""
    totals: dict[str, int] = {}
    names = dataset_class_names(root)
    confusion = np.zeros((len(names),) * 2, dtype=np.int64)
    n = 0
    for _, labels, gt in _pairs(label_dir, root, image_ids, progress, "evaluate", masks, len(names) - 1):
        for key, value in affinity_label_stats(labels, gt).items():
            totals[key] = totals.get(key, 0) + value
        confident = labels != 255
        confusion += confusion_matrix(labels[confident], gt[confident], num_classes=len(names))
        n += 1
    return pd.DataFrame([{"n_images": n, **affinity_label_scores(totals), "miou_confident": mean_iou(confusion, absent)}])

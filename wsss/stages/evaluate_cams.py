"""The evaluate_cams stage: CAM mIoU over a background-threshold sweep, one confusion matrix each."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data.classes import dataset_class_names
from ..data.labels import has_object_label
from ..data.voc import VOCLayout, load_mask
from ..io.h5cache import CamCache
from ..methods.cam import labels_above, top_class
from ..metrics.ground_truth import ground_truth_mask
from ..metrics.miou import confusion_matrix, iou_per_class, mean_iou


def sweep_confusions(cache: CamCache, layout: VOCLayout, image_ids, thresholds, progress=True,
                     masks: str = "auto", *, num_labels: int) -> np.ndarray:
    """(T, C, C) confusion matrices, one per background threshold, summed over the images; C = num_labels,
    background and the dataset's classes (21 for VOC)."""
    confusions = np.zeros((len(thresholds), num_labels, num_labels), dtype=np.int64)
    for image_id in tqdm(image_ids, desc="evaluate", disable=not progress, mininterval=5):
        entry = cache.read(image_id)
        gt = load_mask(ground_truth_mask(layout, image_id, masks), expected_size=entry["size"],
                       num_classes=num_labels - 1)
        score, label = top_class(entry["high_res"], entry["keys"])  # once per image, not per threshold
        for t, threshold in enumerate(thresholds):
            confusions[t] += confusion_matrix(labels_above(score, label, threshold), gt, num_classes=num_labels)
    return confusions


def evaluate_cam_cache(cache_path, root, rows: pd.DataFrame, *, thresholds, fixed_threshold: float,
                       expect: dict | None = None, absent: str = "skip", masks: str = "auto"):
    """(sweep table: one row per threshold with mIoU and per-class IoU, summary: best and fixed).

    Images without a ground-truth mask (of the `masks` folder, see ground_truth_mask) are not scored;
    images skipped by make_cams (no label) are not in the cache and are not scored either (n_not_scored
    counts both, n_unlabelled the latter). absent: the mIoU rule (wsss.metrics.miou).
    expect: attributes the cache must have (CamCache refuses another split or checkpoint's). The classes
    (one IoU column each) are the root's, dataset_class_names.
    """
    layout = VOCLayout(root)
    names = dataset_class_names(root)
    thresholds = sorted(set(float(t) for t in thresholds) | {float(fixed_threshold)})
    with CamCache(cache_path, expect=expect) as cache:
        scored = [i for i in rows["image_id"] if ground_truth_mask(layout, i, masks) is not None and i in cache]
        confusions = sweep_confusions(cache, layout, scored, thresholds, masks=masks, num_labels=len(names))
    sweep = pd.DataFrame(
        [{"threshold": t, "miou": mean_iou(c, absent), **dict(zip(names, iou_per_class(c, absent)))}
         for t, c in zip(thresholds, confusions)]
    )
    best = sweep.loc[sweep["miou"].idxmax()]
    fixed = sweep.loc[sweep["threshold"] == float(fixed_threshold)].iloc[0]
    summary = pd.DataFrame([{
        "n_images": len(scored), "n_not_scored": len(rows) - len(scored),
        "n_unlabelled": int((~has_object_label(rows)).sum()),
        "best_threshold": best["threshold"], "miou_best": best["miou"],
        "fixed_threshold": float(fixed_threshold), "miou_fixed": fixed["miou"],
        **{f"iou_{name}": best[name] for name in names},
    }])
    return sweep, summary

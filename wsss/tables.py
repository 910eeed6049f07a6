"""Tables: per-experiment summaries assembled from the evaluation TSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _first_row(path) -> pd.Series:
    return pd.read_csv(path, sep="\t").iloc[0]


def _split_of(path, prefix: str) -> str:
    return Path(path).stem.removeprefix(prefix)


def experiment_summary(*, cams, affinity_labels=None, pseudo_masks=None, segmentation=None,
                       upper_bound=None) -> pd.DataFrame:
    """Long table (stage, split, metric, value, threshold): every headline number of an experiment, in %."""
    rows = []
    for path in cams:
        table, split = _first_row(path), _split_of(path, "cams_")
        rows.append({"stage": "cam", "split": split, "metric": "miou_best", "value": 100 * table["miou_best"],
                     "threshold": table["best_threshold"]})
        rows.append({"stage": "cam", "split": split, "metric": "miou_fixed", "value": 100 * table["miou_fixed"],
                     "threshold": table["fixed_threshold"]})
    if affinity_labels:
        table, split = _first_row(affinity_labels), _split_of(affinity_labels, "affinity_labels_")
        for metric in ("precision", "precision_fg", "precision_bg", "coverage"):
            rows.append({"stage": "affinity_labels", "split": split, "metric": metric, "value": 100 * table[metric]})
    for stage, path, prefix in (("pseudo_masks", pseudo_masks, "pseudo_masks_"),
                                ("segmentation", segmentation, "segmentation_pseudo_"),
                                ("fully_supervised", upper_bound, "segmentation_gt_")):
        if path:
            rows.append({"stage": stage, "split": _split_of(path, prefix), "metric": "miou",
                         "value": 100 * _first_row(path)["miou"]})
    return pd.DataFrame(rows, columns=["stage", "split", "metric", "value", "threshold"])

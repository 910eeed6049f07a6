"""Tables: per-experiment summaries assembled from the evaluation TSVs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def experiment_summary(*, cams) -> pd.DataFrame:
    """One row per metric: CAM mIoU (best threshold and fixed threshold) for each evaluated split."""
    rows = []
    for path in cams:
        split = Path(path).stem.removeprefix("cams_")
        table = pd.read_csv(path, sep="\t").iloc[0]
        rows.append({"stage": "cam", "split": split, "metric": "miou_best", "value": 100 * table["miou_best"],
                     "threshold": table["best_threshold"]})
        rows.append({"stage": "cam", "split": split, "metric": "miou_fixed", "value": 100 * table["miou_fixed"],
                     "threshold": table["fixed_threshold"]})
    return pd.DataFrame(rows)

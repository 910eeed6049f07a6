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


#: (column, stage, split role, metric) of the experiment comparison; split role 'train'/'val' or a name.
COMPARISON_COLUMNS = (
    ("cam_train", "cam", "train", "miou_best"),
    ("cam_val", "cam", "val", "miou_best"),
    ("cam_val_fixed", "cam", "val", "miou_fixed"),
    ("affinity_precision", "affinity_labels", "train", "precision"),
    ("pseudo_masks", "pseudo_masks", "train", "miou"),
    ("segmentation_val", "segmentation", "val", "miou"),
    ("upper_bound_val", "fully_supervised", "val", "miou"),
)


def compare_experiments(summaries: dict, *, train_split: str, val_split: str) -> pd.DataFrame:
    """One row per experiment (name -> its summary table) with its headline mIoUs, in %."""
    splits = {"train": train_split, "val": val_split}
    rows = []
    for name, summary in summaries.items():
        row = {"experiment": name}
        for column, stage, role, metric in COMPARISON_COLUMNS:
            hit = summary[(summary["stage"] == stage) & (summary["split"] == splits[role])
                          & (summary["metric"] == metric)]
            row[column] = float(hit["value"].iloc[0]) if len(hit) else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=["experiment"] + [c[0] for c in COMPARISON_COLUMNS])


def read_summaries(names, paths) -> dict:
    """{experiment name: its TSV table}, in the given order."""
    return {name: pd.read_csv(path, sep="\t") for name, path in zip(names, paths)}


def write_table(table: pd.DataFrame, tsv_path, markdown_path) -> None:
    """A comparison table as TSV (2 decimals) and as Markdown."""
    table.to_csv(tsv_path, sep="\t", index=False, float_format="%.2f")
    Path(markdown_path).write_text(to_markdown(table))


def to_markdown(table: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub Markdown table; floats with `digits` decimals, NaN as an empty cell."""
    def cell(value):
        if isinstance(value, float):
            return "" if value != value else f"{value:.{digits}f}"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.columns))) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


LOCALIZATION_COLUMNS = ("top1_cls", "top1_loc", "gt_known_loc", "max_box_acc_v2", "mpxap")


def localization_table(summaries: dict) -> pd.DataFrame:
    """One row per experiment (name -> its evaluate_localization summary) with the WSOL metrics, in %."""
    rows = [{"experiment": name, **{c: float(summary[c].iloc[0]) for c in LOCALIZATION_COLUMNS}}
            for name, summary in summaries.items()]
    return pd.DataFrame(rows, columns=["experiment", *LOCALIZATION_COLUMNS])

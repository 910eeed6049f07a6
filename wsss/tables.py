"""Tables: per-experiment summaries assembled from the evaluation TSVs."""

from __future__ import annotations

import re
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


LOCALIZATION_COLUMNS = ("top1_cls", "top1_loc", "gt_known_loc", "max_box_acc_v2", "mpxap", "pxap")


def localization_table(summaries: dict) -> pd.DataFrame:
    """One row per experiment (name -> its evaluate_localization summary) with the WSOL metrics, in %.

    mpxap is the mean of per-class PxAPs, pxap wsolevaluation's one curve pooled over every image
    (its paper number); a summary without a column gives NaN there.
    """
    rows = [{"experiment": name, **{c: float(summary[c].iloc[0]) if c in summary else float("nan")
                                    for c in LOCALIZATION_COLUMNS}}
            for name, summary in summaries.items()]
    return pd.DataFrame(rows, columns=["experiment", *LOCALIZATION_COLUMNS])


# --- paper tables: the same numbers arranged as the papers' tables, written as TSV, Markdown and LaTeX ---

METHOD_COLUMNS = {"cam_train": "CAM (train)", "cam_val": "CAM (val)", "pseudo_masks": "pseudo masks (train)",
                  "segmentation_val": "segmentation (val)", "upper_bound_val": "fully supervised (val)"}


def methods_table(summaries: dict, *, train_split: str, val_split: str) -> pd.DataFrame:
    """Table 1: CAM, pseudo-mask and segmentation mIoU per method, with the fully supervised upper bound."""
    table = compare_experiments(summaries, train_split=train_split, val_split=val_split)
    return table[["experiment", *METHOD_COLUMNS]].rename(columns=METHOD_COLUMNS)


def puzzle_ablation_table(summaries: dict, terms: dict, *, train_split: str, val_split: str) -> pd.DataFrame:
    """Puzzle-CAM's loss ablation: which of L_cls / L_p-cls / L_re each experiment uses, and its CAM mIoU.

    terms: {experiment: {'p_cls': bool, 're': bool}} (L_cls is always on; experiments without the
    puzzle method have neither term).
    """
    table = compare_experiments(summaries, train_split=train_split, val_split=val_split)
    rows = []
    for _, row in table.iterrows():
        used = terms[row["experiment"]]
        rows.append({"experiment": row["experiment"], "L_cls": "yes", "L_p-cls": "yes" if used["p_cls"] else "",
                     "L_re": "yes" if used["re"] else "", "CAM (train)": row["cam_train"], "CAM (val)": row["cam_val"]})
    return pd.DataFrame(rows, columns=["experiment", "L_cls", "L_p-cls", "L_re", "CAM (train)", "CAM (val)"])


def refinement_table(summaries: dict, settings: dict, *, train_split: str, val_split: str) -> pd.DataFrame:
    """RW and dCRF on/off: pseudo-mask mIoU on the training split and the segmenter trained on them.

    settings: {experiment: {'random_walk': bool, 'crf': bool}} saying how each experiment made its masks.
    """
    table = compare_experiments(summaries, train_split=train_split, val_split=val_split)
    rows = [{"experiment": row["experiment"], "RW": "yes" if settings[row["experiment"]]["random_walk"] else "",
             "dCRF": "yes" if settings[row["experiment"]]["crf"] else "", "pseudo masks (train)": row["pseudo_masks"],
             "segmentation (val)": row["segmentation_val"]} for _, row in table.iterrows()]
    return pd.DataFrame(rows, columns=["experiment", "RW", "dCRF", "pseudo masks (train)", "segmentation (val)"])


def sweep_table(summaries: dict, values: dict, key: str) -> pd.DataFrame:
    """A one-key sweep's localization metrics: one row per value (values: {experiment: value}), in
    increasing order of the value, which is written as text in its shortest form (1e-05, 0.0001) so
    that the tables' fixed decimals do not round a small lambda to 0.0."""
    table = localization_table(summaries)
    table.insert(1, key, [float(values[name]) for name in table["experiment"]])
    table = table.sort_values(key, kind="stable").reset_index(drop=True)
    table[key] = [f"{value:g}" for value in table[key]]
    return table


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def to_latex(table: pd.DataFrame, caption: str = "", digits: int = 1) -> str:
    """A booktabs LaTeX tabular (table environment with the caption): floats with `digits` decimals,
    NaN as '--', special characters of text cells escaped."""
    def cell(value):
        if isinstance(value, float):
            return "--" if value != value else f"{value:.{digits}f}"
        return re.sub(r"[\\&%$#_{}~^]", lambda match: LATEX_SPECIAL[match.group()], str(value))

    align = "l" + "".join("r" if pd.api.types.is_numeric_dtype(table[c]) else "c" for c in table.columns[1:])
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(cell(c) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(cell(v) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{cell(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_paper_table(table: pd.DataFrame, tsv_path, markdown_path, latex_path, caption: str = "") -> None:
    """A paper table as TSV, Markdown and LaTeX."""
    write_table(table, tsv_path, markdown_path)
    Path(latex_path).write_text(to_latex(table, caption))

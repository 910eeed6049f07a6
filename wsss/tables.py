"""Tables: per-experiment summaries assembled from the evaluation TSVs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
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


def read_seed_summaries(names, seeds, paths) -> dict:
    """{seed: {experiment name: its TSV table}} from paths in seed-major order (every experiment of the
    first seed, then every experiment of the next, ...), as rules/common.smk's summaries_of lists them."""
    names, seeds, paths = list(names), list(seeds), list(paths)
    if len(paths) != len(names) * len(seeds):
        raise ValueError(f"{len(paths)} summaries for {len(names)} experiments x {len(seeds)} seeds")
    return {seed: read_summaries(names, paths[i * len(names):(i + 1) * len(names)]) for i, seed in enumerate(seeds)}


# --- several seeds: every cell as mean ± std over the seeds, and each row's paired difference from a baseline ---

#: The statistics a table over several seeds keeps of each numeric column, one TSV column each.
STATISTICS = ("mean", "std", "diff", "diff_std", "diff_real")


def statistic_column(column: str, statistic: str) -> str:
    """The TSV column of one statistic of a column: 'cam_train_std' for a snake_case column, 'CAM (train)
    diff std' for a column written in words."""
    joiner = "_" if column.isidentifier() else " "
    return joiner.join([column, *statistic.split("_")])


def spread(samples) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample standard deviation (ddof 1) and count of the non-NaN samples along axis 0 (the seeds).

    The std is NaN below two samples, the mean NaN without any.
    """
    samples = np.asarray(samples, dtype=np.float64)
    present = ~np.isnan(samples)
    n = present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.where(present, samples, 0.0).sum(axis=0) / n, np.nan)
        squares = np.where(present, (samples - mean) ** 2, 0.0).sum(axis=0)
        std = np.where(n > 1, np.sqrt(squares / (n - 1)), np.nan)
    return mean, std, n


def is_real(mean, std, n) -> np.ndarray:
    """A mean (paired) difference is real when |mean| exceeds two standard errors, SE = std / sqrt(n);
    never below two samples, where there is no std."""
    mean, std, n = np.asarray(mean, np.float64), np.asarray(std, np.float64), np.asarray(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n > 1) & (np.abs(mean) > 2 * std / np.sqrt(np.maximum(n, 1)))


def seed_statistics(tables: dict, baseline: str | None = None) -> pd.DataFrame:
    """One table from the same table made at each seed ({seed: table}, one row per 'experiment').

    One seed: that table as it is. Several: the text columns (of the first seed's table), 'seeds' (how
    many), and for every numeric column its mean and sample std (ddof 1) over the seeds. When baseline
    is one of the rows, every other row also gets its paired difference from the baseline row (the
    same seed's tables subtracted, then mean and std over the seeds) and whether it is real (is_real);
    the baseline row's differences are NaN (and not real).
    """
    seeds = list(tables)
    first = tables[seeds[0]]
    if len(seeds) == 1:
        return first.copy()
    names = first["experiment"].tolist()
    for seed in seeds[1:]:
        if tables[seed]["experiment"].tolist() != names:
            raise ValueError(f"seed {seed}'s table has the rows {tables[seed]['experiment'].tolist()}, "
                             f"seed {seeds[0]}'s {names}")
    numeric = [c for c in first.columns[1:] if pd.api.types.is_numeric_dtype(first[c])
               and not pd.api.types.is_bool_dtype(first[c])]
    samples = np.stack([tables[seed][numeric].to_numpy(np.float64) for seed in seeds])  # (seeds, rows, columns)
    mean, std, _ = spread(samples)
    paired = baseline is not None and baseline in names
    if paired:
        row = names.index(baseline)
        diff_mean, diff_std, diff_n = spread(samples - samples[:, row:row + 1])
        diff_mean[row], diff_std[row] = np.nan, np.nan
        real = is_real(diff_mean, diff_std, diff_n)
    out = {"experiment": names}
    for column in first.columns[1:]:
        if column not in numeric:
            out[column] = first[column].tolist()
            continue
        out.setdefault("seeds", len(seeds))
        j = numeric.index(column)
        out[statistic_column(column, "mean")] = mean[:, j]
        out[statistic_column(column, "std")] = std[:, j]
        if paired:
            out[statistic_column(column, "diff")] = diff_mean[:, j]
            out[statistic_column(column, "diff_std")] = diff_std[:, j]
            out[statistic_column(column, "diff_real")] = real[:, j]
    return pd.DataFrame(out)


def _mean_column_base(column: str, columns) -> str | None:
    """The column whose mean `column` is (seed_statistics' naming), or None for any other column."""
    for joiner in ("_", " "):
        if column.endswith(f"{joiner}mean"):
            base = column[:-len(f"{joiner}mean")]
            if statistic_column(base, "mean") == column and statistic_column(base, "std") in columns:
                return base
    return None


def _shown_columns(table: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """(name, kind, source columns) of each column that the Markdown and LaTeX versions show: kind
    'value' (one column), 'spread' (its mean and std) or 'difference' (diff, diff std, diff real)."""
    shown, taken = [], set()
    for column in table.columns:
        if column in taken:
            continue
        base = _mean_column_base(column, table.columns)
        if base is None:
            shown.append((column, "value", [column]))
            continue
        group = {statistic: statistic_column(base, statistic) for statistic in STATISTICS}
        shown.append((base, "spread", [group["mean"], group["std"]]))
        if group["diff"] in table.columns:
            shown.append((base, "difference", [group["diff"], group["diff_std"], group["diff_real"]]))
        taken.update(group.values())
    return shown


def _cell_text(kind: str, values, *, digits: int, missing: str, pm: str, mark: str, text) -> str:
    """One shown cell: a value, 'mean ± std' or a signed 'diff ± std' with `mark` when real."""
    value = values[0]
    if kind == "value" and not isinstance(value, float):
        return text(value)
    if value != value:  # NaN: no value (the baseline's own difference, a metric the run lacks)
        return missing
    sign = "+" if kind == "difference" else ""
    shown = f"{value:{sign}.{digits}f}"
    if kind != "value" and values[1] == values[1]:
        shown += f"{pm}{values[1]:.{digits}f}"
    return shown + (mark if kind == "difference" and values[2] else "")


def _shown_rows(table: pd.DataFrame, shown, **formats) -> list[list[str]]:
    return [[_cell_text(kind, [row[c] for c in columns], **formats) for _, kind, columns in shown]
            for _, row in table.iterrows()]


def spread_legend(table: pd.DataFrame, baseline: str | None = None, *, latex: bool = False) -> str:
    """What the ± and the differences of a seed_statistics table mean ('' for a one-seed table)."""
    kinds = {kind for _, kind, _ in _shown_columns(table)}
    if "spread" not in kinds:
        return ""
    if latex:
        name = rf"\texttt{{{_latex_escape(baseline)}}}" if baseline else "the baseline row"
        text = r"Mean $\pm$ sample standard deviation (ddof 1) over the seeds."
        if "difference" in kinds:
            text += (rf" $\Delta$: paired difference from {name} (same seed), mean $\pm$ its std;"
                     r" $^\dagger$: $|\mathrm{mean}| > 2$ standard errors ($\mathrm{std}/\sqrt{n}$).")
        return text
    name = f"`{baseline}`" if baseline else "the baseline row"
    text = "Mean ± sample standard deviation (ddof 1) over the seeds."
    if "difference" in kinds:
        text += (f" Δ: paired difference from {name} (same seed), mean ± its std;"
                 " † where |mean| > 2 standard errors (std / √n).")
    return text


def write_table(table: pd.DataFrame, tsv_path, markdown_path, baseline: str | None = None) -> None:
    """A comparison table as TSV (2 decimals, one column per statistic) and as Markdown (with the
    legend of its ± and differences when it spans several seeds)."""
    table.to_csv(tsv_path, sep="\t", index=False, float_format="%.2f")
    legend = spread_legend(table, baseline)
    Path(markdown_path).write_text(to_markdown(table) + (f"\n{legend}\n" if legend else ""))


def to_markdown(table: pd.DataFrame, digits: int = 1) -> str:
    """A GitHub Markdown table; floats with `digits` decimals, NaN as an empty cell; a seed_statistics
    table's statistics as 'mean ± std' cells and 'Δ <column>' cells '+diff ± std', † when real."""
    shown = _shown_columns(table)
    names = [f"Δ {name}" if kind == "difference" else name for name, kind, _ in shown]
    rows = _shown_rows(table, shown, digits=digits, missing="", pm=" ± ", mark=" †", text=str)
    lines = ["| " + " | ".join(names) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(names))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
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


def _latex_escape(value) -> str:
    return re.sub(r"[\\&%$#_{}~^]", lambda match: LATEX_SPECIAL[match.group()], str(value))


def to_latex(table: pd.DataFrame, caption: str = "", digits: int = 1, note: str = "") -> str:
    """A booktabs LaTeX tabular (table environment with the caption, then `note`, which is LaTeX
    already): floats with `digits` decimals, NaN as '--', special characters of text cells escaped;
    a seed_statistics table's statistics as 'mean ± std' and 'Δ' columns, with a dagger when real."""
    shown = _shown_columns(table)
    names = [(r"$\Delta$ " if kind == "difference" else "") + _latex_escape(name) for name, kind, _ in shown]
    rows = _shown_rows(table, shown, digits=digits, missing="--", pm=r" $\pm$ ", mark=r"$^\dagger$",
                       text=_latex_escape)
    align = "l" + "".join("r" if kind != "value" or pd.api.types.is_numeric_dtype(table[columns[0]]) else "c"
                          for _, kind, columns in shown[1:])
    lines = [r"\begin{table}[t]", r"\centering", rf"\begin{{tabular}}{{{align}}}", r"\toprule",
             " & ".join(names) + r" \\", r"\midrule"]
    lines += [" & ".join(row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    caption = " ".join(part for part in (_latex_escape(caption) if caption else "", note) if part)
    if caption:
        lines.append(rf"\caption{{{caption}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def write_paper_table(table: pd.DataFrame, tsv_path, markdown_path, latex_path, caption: str = "",
                      baseline: str | None = None) -> None:
    """A paper table as TSV, Markdown and LaTeX (the last two with the legend of a table over seeds)."""
    write_table(table, tsv_path, markdown_path, baseline)
    Path(latex_path).write_text(to_latex(table, caption, note=spread_legend(table, baseline, latex=True)))

"""Paper tables from per-experiment summaries: the right numbers in the right cells, in three formats."""

import math

import numpy as np
import pandas as pd
import pytest

from wsss.tables import (is_real, methods_table, puzzle_ablation_table, read_seed_summaries, refinement_table,
                         seed_statistics, spread, spread_legend, sweep_table, to_latex, to_markdown, write_paper_table,
                         write_table)


def summary(cam_train, cam_val, pseudo, seg, upper):
    rows = [("cam", "train", "miou_best", cam_train), ("cam", "val", "miou_best", cam_val),
            ("cam", "val", "miou_fixed", cam_val - 1), ("pseudo_masks", "train", "miou", pseudo),
            ("segmentation", "val", "miou", seg), ("fully_supervised", "val", "miou", upper)]
    return pd.DataFrame(rows, columns=["stage", "split", "metric", "value"])


SUMMARIES = {"cam": summary(41.0, 42.0, 50.0, 30.0, 65.0), "puzzle": summary(25.0, 26.0, 12.0, 10.0, 32.0),
             "puzzle-no_re": summary(30.0, 31.0, 20.0, 15.0, 40.0)}


def test_methods_table_takes_each_number_from_its_stage_and_split():
    table = methods_table(SUMMARIES, train_split="train", val_split="val")
    assert table.columns.tolist() == ["experiment", "CAM (train)", "CAM (val)", "pseudo masks (train)",
                                      "segmentation (val)", "fully supervised (val)"]
    assert table.iloc[1].tolist() == ["puzzle", 25.0, 26.0, 12.0, 10.0, 32.0]


def test_puzzle_ablation_marks_the_terms_used():
    terms = {"cam": {"p_cls": False, "re": False}, "puzzle": {"p_cls": True, "re": True},
             "puzzle-no_re": {"p_cls": True, "re": False}}
    table = puzzle_ablation_table(SUMMARIES, terms, train_split="train", val_split="val")
    assert table[["L_cls", "L_p-cls", "L_re"]].values.tolist() == [["yes", "", ""], ["yes", "yes", "yes"],
                                                                   ["yes", "yes", ""]]
    assert table["CAM (train)"].tolist() == [41.0, 25.0, 30.0]


def test_refinement_table_marks_rw_and_crf():
    settings = {"cam": {"random_walk": True, "crf": False}, "puzzle": {"random_walk": False, "crf": True},
                "puzzle-no_re": {"random_walk": False, "crf": False}}
    table = refinement_table(SUMMARIES, settings, train_split="train", val_split="val")
    assert table[["RW", "dCRF"]].values.tolist() == [["yes", ""], ["", "yes"], ["", ""]]
    assert table["pseudo masks (train)"].tolist() == [50.0, 12.0, 20.0]


def test_sweep_table_is_sorted_by_value():
    metrics = {name: pd.DataFrame([{"top1_cls": v, "top1_loc": v, "gt_known_loc": v, "max_box_acc_v2": v,
                                    "mpxap": np.nan}]) for name, v in (("a", 1.0), ("b", 2.0), ("c", 3.0))}
    table = sweep_table(metrics, {"a": 1e-3, "b": 0.0, "c": 1e-5}, "lambda")
    assert table["experiment"].tolist() == ["b", "c", "a"]
    # the value is text, so no fixed-decimal writer rounds 1e-05 to 0.0
    assert table["lambda"].tolist() == ["0", "1e-05", "0.001"]
    assert to_markdown(table).splitlines()[3] == "| c | 1e-05 | 3.0 | 3.0 | 3.0 | 3.0 |  |  |"  # no mpxap, no pxap
    assert r"c & 1e-05 & 3.0" in to_latex(table)


def test_three_formats_agree(tmp_path):
    table = methods_table(SUMMARIES, train_split="train", val_split="val")
    write_paper_table(table, tmp_path / "t.tsv", tmp_path / "t.md", tmp_path / "t.tex", caption="mIoU in %")
    assert pd.read_csv(tmp_path / "t.tsv", sep="\t").equals(table)
    markdown = (tmp_path / "t.md").read_text().splitlines()
    assert markdown[2] == "| cam | 41.0 | 42.0 | 50.0 | 30.0 | 65.0 |"
    latex = (tmp_path / "t.tex").read_text()
    assert r"puzzle-no\_re & 30.0 & 31.0 & 20.0 & 15.0 & 40.0 \\" in latex
    assert r"\caption{mIoU in \%}" in latex and latex.count(r"\\") == 1 + 3


def test_latex_escapes_and_shows_missing_values():
    latex = to_latex(pd.DataFrame({"experiment": ["a_b&c"], "x": [np.nan]}))
    assert r"a\_b\&c & -- \\" in latex


# --- several seeds ---

#: Per-seed summaries written as the pipeline writes them; cam's CAM (train) is 41/42/46 over the seeds,
#: puzzle's 25/27/26 -> paired differences -16/-15/-20.
SEED_SUMMARIES = {0: {"cam": summary(41.0, 42.0, 50.0, 30.0, 65.0), "puzzle": summary(25.0, 26.0, 12.0, 10.0, 32.0)},
                  1: {"cam": summary(42.0, 42.0, 52.0, 31.0, 66.0), "puzzle": summary(27.0, 26.5, 13.0, 10.0, 33.0)},
                  2: {"cam": summary(46.0, 42.0, 51.0, 32.0, 64.0), "puzzle": summary(26.0, 27.0, 80.0, 10.0, 31.0)}}


def written_summaries(folder):
    """The per-seed summaries as TSV files, in rules/common.smk's seed-major order, read back."""
    paths = []
    for seed, by_name in SEED_SUMMARIES.items():
        for name, table in by_name.items():
            path = folder / name / f"seed{seed}" / "summary.tsv"
            path.parent.mkdir(parents=True)
            table.to_csv(path, sep="\t", index=False, float_format="%.2f")
            paths.append(path)
    return read_seed_summaries(["cam", "puzzle"], [0, 1, 2], paths)


def test_seed_tables_give_mean_sample_std_and_paired_differences(tmp_path):
    summaries = written_summaries(tmp_path)
    table = seed_statistics({seed: methods_table(by_name, train_split="train", val_split="val")
                             for seed, by_name in summaries.items()}, baseline="cam").set_index("experiment")
    assert table["seeds"].tolist() == [3, 3]
    # cam: 41, 42, 46 -> mean 43, squares 4 + 1 + 9 = 14 over n - 1 = 2 -> std sqrt(7)
    assert table.at["cam", "CAM (train) mean"] == pytest.approx(43.0, abs=1e-12)
    assert table.at["cam", "CAM (train) std"] == pytest.approx(math.sqrt(7), abs=1e-12)
    # puzzle - cam at each seed: -16, -15, -20 -> mean -17, squares 1 + 4 + 9 = 14 -> std sqrt(7);
    # SE = sqrt(7 / 3) = 1.53, |mean| 17 > 2 SE: real
    assert table.at["puzzle", "CAM (train) diff"] == pytest.approx(-17.0, abs=1e-12)
    assert table.at["puzzle", "CAM (train) diff std"] == pytest.approx(math.sqrt(7), abs=1e-12)
    assert table.at["puzzle", "CAM (train) diff real"]
    # pseudo masks: puzzle - cam = -38, -39, 29 -> mean -16, squares 484 + 529 + 2025 = 3038 -> std
    # sqrt(1519) = 38.97, SE 22.50: |mean| < 2 SE, not real
    assert table.at["puzzle", "pseudo masks (train) diff"] == pytest.approx(-16.0, abs=1e-12)
    assert table.at["puzzle", "pseudo masks (train) diff std"] == pytest.approx(math.sqrt(1519), abs=1e-12)
    assert not table.at["puzzle", "pseudo masks (train) diff real"]
    # CAM (val): cam is 42 at every seed, so puzzle's differences are -16, -15.5, -15: std 0.5, real
    assert table.at["cam", "CAM (val) std"] == 0.0
    assert table.at["puzzle", "CAM (val) diff std"] == pytest.approx(0.5, abs=1e-12)
    # the baseline has no difference from itself
    assert np.isnan(table.at["cam", "CAM (train) diff"]) and not table.at["cam", "CAM (train) diff real"]


def test_one_seed_keeps_the_table_as_it_is():
    table = methods_table(SUMMARIES, train_split="train", val_split="val")
    assert seed_statistics({0: table}, baseline="cam").equals(table)
    assert spread_legend(table, "cam") == ""


def test_spread_counts_only_present_samples():
    mean, std, n = spread([[1.0, np.nan, np.nan], [3.0, 5.0, np.nan]])
    assert n.tolist() == [2, 1, 0]
    assert mean[0] == 2.0 and mean[1] == 5.0 and np.isnan(mean[2])
    assert std[0] == pytest.approx(math.sqrt(2), abs=1e-15) and np.isnan(std[1]) and np.isnan(std[2])
    # two standard errors of (std 1, n 4) are exactly 1: strictly more is real
    assert is_real([1.0, 1.01, -1.01, 5.0], [1.0, 1.0, 1.0, np.nan], [4, 4, 4, 1]).tolist() == [False, True, True, False]


def test_text_columns_come_through_and_a_table_without_its_baseline_has_no_differences():
    terms = {"cam": {"p_cls": False, "re": False}, "puzzle": {"p_cls": True, "re": True}}
    tables = {seed: puzzle_ablation_table(by_name, terms, train_split="train", val_split="val")
              for seed, by_name in SEED_SUMMARIES.items()}
    table = seed_statistics(tables, baseline="puzzle-no_re")
    assert table.columns.tolist() == ["experiment", "L_cls", "L_p-cls", "L_re", "seeds", "CAM (train) mean",
                                      "CAM (train) std", "CAM (val) mean", "CAM (val) std"]
    assert table["L_p-cls"].tolist() == ["", "yes"]
    assert to_markdown(table).splitlines()[2] == "| cam | yes |  |  | 3 | 43.0 ± 2.6 | 42.0 ± 0.0 |"


def test_seed_tables_must_have_the_same_rows():
    one = methods_table(SUMMARIES, train_split="train", val_split="val")
    with pytest.raises(ValueError, match="rows"):
        seed_statistics({0: one, 1: one.iloc[::-1]})


def test_spread_in_the_three_formats(tmp_path):
    summaries = written_summaries(tmp_path)
    table = seed_statistics({seed: methods_table(by_name, train_split="train", val_split="val")
                             for seed, by_name in summaries.items()}, baseline="cam")
    write_paper_table(table, tmp_path / "t.tsv", tmp_path / "t.md", tmp_path / "t.tex", caption="mIoU in %",
                      baseline="cam")
    # the TSV: one column per statistic, 2 decimals
    tsv = pd.read_csv(tmp_path / "t.tsv", sep="\t")
    assert tsv.columns.tolist()[:7] == ["experiment", "seeds", "CAM (train) mean", "CAM (train) std", "CAM (train) diff",
                                        "CAM (train) diff std", "CAM (train) diff real"]
    assert tsv.at[0, "CAM (train) std"] == 2.65 and tsv.at[1, "CAM (train) diff real"] == True  # noqa: E712
    markdown = (tmp_path / "t.md").read_text().splitlines()
    assert markdown[0] == ("| experiment | seeds | CAM (train) | Δ CAM (train) | CAM (val) | Δ CAM (val) | pseudo masks "
                           "(train) | Δ pseudo masks (train) | segmentation (val) | Δ segmentation (val) | fully "
                           "supervised (val) | Δ fully supervised (val) |")
    # cam 43.0 ± sqrt(7); puzzle 26.0 ± 1.0, its difference -17.0 ± sqrt(7), real (†); pseudo masks not real
    assert markdown[2].startswith("| cam | 3 | 43.0 ± 2.6 |  | 42.0 ± 0.0 |  |")
    assert markdown[3].startswith("| puzzle | 3 | 26.0 ± 1.0 | -17.0 ± 2.6 † | 26.5 ± 0.5 | -15.5 ± 0.5 † | "
                                  "35.0 ± 39.0 | -16.0 ± 39.0 |")
    assert markdown[-1] == spread_legend(table, "cam") and "`cam`" in markdown[-1] and "ddof 1" in markdown[-1]
    latex = (tmp_path / "t.tex").read_text()
    assert r"puzzle & 3 & 26.0 $\pm$ 1.0 & -17.0 $\pm$ 2.6$^\dagger$ & 26.5 $\pm$ 0.5 &" in latex
    assert r"$\Delta$ CAM (train)" in latex and r"\begin{tabular}{l" + "r" * 11 + "}" in latex
    assert r"\caption{mIoU in \% Mean $\pm$ sample standard deviation" in latex and r"\texttt{cam}" in latex


def test_a_one_seed_table_has_no_legend(tmp_path):
    table = methods_table(SUMMARIES, train_split="train", val_split="val")
    write_table(table, tmp_path / "t.tsv", tmp_path / "t.md", baseline="cam")
    assert (tmp_path / "t.md").read_text() == to_markdown(table)

"""Paper tables from per-experiment summaries: the right numbers in the right cells, in three formats."""

import numpy as np
import pandas as pd

from wsss.tables import (methods_table, puzzle_ablation_table, refinement_table, sweep_table, to_latex, to_markdown,
                         write_paper_table)


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

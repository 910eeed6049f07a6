"""The evaluation protocol settings: image labels from the XML or the masks (dataset.label_source), which
images of a split are scored (evaluation.subsets), against which masks (evaluation.masks), and the mIoU
rule (evaluation.absent_classes); their one-line config errors."""

import shutil

import numpy as np
import pandas as pd
import pytest

from script_runner import tiny_dataset
from wsss.data.labels import build_label_table, read_label_table, subset_rows
from wsss.data.voc import VOCLayout, load_mask
from wsss.errors import DatasetError
from wsss.io.png import write_label_png
from wsss.metrics.ground_truth import ground_truth_mask
from wsss.stages.evaluate_masks import evaluate_mask_folder

from workflow_helpers import snakemake, write_config

SPLITS = {"train": "ImageSets/Segmentation/train.txt", "val": "ImageSets/Segmentation/val.txt"}


@pytest.fixture
def tiny(tmp_path):
    data, labels = tiny_dataset(tmp_path, n_train=4, n_val=2)
    return data, labels


def test_label_source_xml_reads_the_annotation_even_where_a_mask_exists(tiny):
    data, _ = tiny
    xml = data / "Annotations" / "train_00000.xml"
    text = xml.read_text()
    extra = "<object><name>dog</name><difficult>1</difficult></object></annotation>"
    xml.write_text(text.replace("</annotation>", extra))  # an object the mask does not paint
    from_masks = build_label_table(data, SPLITS, progress=False)
    from_xml = build_label_table(data, SPLITS, progress=False, label_source="xml")
    row_masks = from_masks[from_masks["image_id"] == "train_00000"].iloc[0]
    row_xml = from_xml[from_xml["image_id"] == "train_00000"].iloc[0]
    assert row_masks["label_source"] == "mask" and row_masks["dog"] == 0
    assert row_xml["label_source"] == "xml" and row_xml["dog"] == 1 and row_xml["has_mask"]
    xml.unlink()
    with pytest.raises(DatasetError, match="train_00000.xml: annotation file does not exist"):
        build_label_table(data, SPLITS, progress=False, label_source="xml")


def test_subset_rows_keep_the_images_of_the_other_split_and_refuse_strangers(tiny, tmp_path):
    data, labels = tiny
    table = read_label_table(labels)
    # a third split: two of the four training images (as VOC train.txt is part of train_aug)
    (data / "ImageSets/Segmentation/subset.txt").write_text("train_00001\ntrain_00003\n")
    table = build_label_table(data, {**SPLITS, "subset": "ImageSets/Segmentation/subset.txt"}, progress=False)
    path = tmp_path / "labels3.tsv"
    table.to_csv(path, sep="\t", index=False)
    train = table[table["split"] == "train"].reset_index(drop=True)
    assert subset_rows(train, path, None) is train
    assert subset_rows(train, path, "subset")["image_id"].tolist() == ["train_00001", "train_00003"]
    val = table[table["split"] == "val"].reset_index(drop=True)
    with pytest.raises(DatasetError, match=r"2 images of split 'subset' are not in split 'val'.*evaluation.subsets"):
        subset_rows(val, path, "subset")


def test_masks_setting_picks_the_folder_and_unscored_images_drop_out(tiny, tmp_path):
    data, _ = tiny
    layout = VOCLayout(data)
    official = load_mask(data / "SegmentationClass" / "train_00000.png")
    aug = np.where(official == 255, 0, official).astype(np.uint8)  # an SBD-style mask: no void border
    (data / "SegmentationClassAug").mkdir()
    write_label_png(data / "SegmentationClassAug" / "train_00000.png", aug)
    assert ground_truth_mask(layout, "train_00000").parent.name == "SegmentationClassAug"  # auto prefers SBD's
    assert ground_truth_mask(layout, "train_00000", "SegmentationClass").parent.name == "SegmentationClass"
    assert ground_truth_mask(layout, "train_00001", "SegmentationClassAug") is None
    with pytest.raises(ValueError, match="mask source 'Aug'"):
        ground_truth_mask(layout, "train_00000", "Aug")

    predictions = tmp_path / "pred"
    predictions.mkdir()
    ids = [f"train_{k:05d}" for k in range(4)]
    for image_id in ids:  # perfect predictions of the official masks, void said background
        gt = load_mask(data / "SegmentationClass" / f"{image_id}.png")
        write_label_png(predictions / f"{image_id}.png", np.where(gt == 255, 0, gt).astype(np.uint8))
    official_scores = evaluate_mask_folder(predictions, data, ids, masks="SegmentationClass", progress=False)
    assert official_scores.at[0, "n_images"] == 4 and official_scores.at[0, "miou"] == 1.0
    aug_scores = evaluate_mask_folder(predictions, data, ids, masks="SegmentationClassAug", progress=False)
    assert aug_scores.at[0, "n_images"] == 1 and aug_scores.at[0, "miou"] == 1.0
    present = int(np.isfinite(official_scores.filter(like="iou_").to_numpy(dtype=float)).sum())
    zero = evaluate_mask_folder(predictions, data, ids, masks="SegmentationClass", absent="zero", progress=False)
    assert present < 21 and zero.at[0, "miou"] == pytest.approx(present / 21)
    assert (zero.filter(like="iou_").to_numpy(dtype=float) >= 0).all()


@pytest.mark.parametrize("overrides, line", [
    ({"evaluation": {"subsets": {"train": "train_voc"}}},
     "config key evaluation.subsets: split 'train_voc' is not one of dataset.splits ['train', 'val']"),
    ({"experiments": {"cam": {"evaluation": {"absent_classes": "zero"}}}},
     "experiments.cam: unknown key(s) ('evaluation' was unexpected)"),  # one protocol for the whole run
    ({"evaluation": {"absent_classes": "nan"}}, "config key evaluation.absent_classes: 'nan' is not one of"),
])
def test_bad_protocol_settings_stop_the_dag_with_one_line(tmp_path, overrides, line):
    write_config(tmp_path, overrides)
    out = snakemake(tmp_path, "-n", check=False)
    assert out.returncode != 0 and line in out.stdout + out.stderr

import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wsss.data.labels import build_label_table, split_rows
from wsss.data.voc import load_mask, read_split
from wsss.errors import DatasetError

SPLITS = {"train": "ImageSets/SegmentationAug/train_aug.txt", "val": "ImageSets/Segmentation/val.txt"}


def test_reads_real_voc_sample(voc_mini):
    table = build_label_table(voc_mini, SPLITS, decode=False, progress=False)
    assert table.groupby("split").size().to_dict() == {"train": 312, "val": 109}
    row = table[table.image_id == "2007_000783"].iloc[0]  # horse + person in its mask
    assert row["horse"] == 1 and row["person"] == 1 and row["dog"] == 0
    assert (row["height"], row["width"]) == np.asarray(Image.open(voc_mini / "JPEGImages/2007_000783.jpg")).shape[:2]


@pytest.fixture
def small_copy(voc_mini, tmp_path):
    """A copy of 5 val images of the sample, for breaking."""
    ids = read_split(voc_mini / SPLITS["val"])[:5]
    root = tmp_path / "VOC2012"
    for folder, ext in (("JPEGImages", "jpg"), ("SegmentationClass", "png"), ("Annotations", "xml")):
        (root / folder).mkdir(parents=True)
        for i in ids:
            shutil.copy(voc_mini / folder / f"{i}.{ext}", root / folder / f"{i}.{ext}")
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids) + "\n")
    return root, ids


def check(root):
    return build_label_table(root, {"val": "ImageSets/Segmentation/val.txt"}, progress=False)


def test_copy_is_valid(small_copy):
    assert len(check(small_copy[0])) == 5


def test_missing_image_named(small_copy):
    root, ids = small_copy
    (root / "JPEGImages" / f"{ids[2]}.jpg").unlink()
    with pytest.raises(DatasetError, match=f"{ids[2]}.jpg.*no image file"):
        check(root)


def test_truncated_jpeg_named(small_copy):
    root, ids = small_copy
    path = root / "JPEGImages" / f"{ids[1]}.jpg"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DatasetError, match=f"{ids[1]}.jpg.*cannot decode"):
        check(root)


def test_bad_mask_values_named(small_copy):
    root, ids = small_copy
    path = root / "SegmentationClass" / f"{ids[0]}.png"
    mask = np.array(Image.open(path))
    mask[0, 0] = 42
    image = Image.fromarray(mask, mode="P")
    image.putpalette(Image.open(path).getpalette())
    image.save(path)
    with pytest.raises(DatasetError, match=f"{ids[0]}.png.*values \\[42\\] outside"):
        check(root)


def test_size_mismatch_named(small_copy):
    root, ids = small_copy
    path = root / "SegmentationClass" / f"{ids[3]}.png"
    mask = Image.open(path)
    mask.crop((0, 0, mask.width - 4, mask.height)).save(path)
    with pytest.raises(DatasetError, match=f"{ids[3]}.png.*size"):
        check(root)


def test_empty_split_and_unknown_split(small_copy):
    root, _ = small_copy
    (root / "ImageSets/Segmentation/val.txt").write_text("\n")
    with pytest.raises(DatasetError, match="val.txt: split list is empty"):
        check(root)
    with pytest.raises(DatasetError, match="split 'train' has no images"):
        split_rows(pd.DataFrame({"split": ["val"], "image_id": ["x"]}), "train")


def test_mask_reader_rejects_rgb(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(path)
    with pytest.raises(DatasetError, match="rgb.png.*mode 'RGB'"):
        load_mask(path)

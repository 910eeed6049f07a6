from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.data.wsol_layout import WSOLLayout
from wsss.errors import DatasetError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_layout(tmp_path, localization: str, dataset: str = "CUB") -> WSOLLayout:
    meta = tmp_path / "metadata" / dataset / "test"
    ids = ["test/a/1.jpg", "test/b/2.png"]
    for i, image_id in enumerate(ids):
        path = tmp_path / "dataset" / dataset / image_id
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(path)
    write(meta / "image_ids.txt", "\n".join(ids) + "\n")
    write(meta / "class_labels.txt", "test/a/1.jpg,3\ntest/b/2.png,0\n")
    write(meta / "localization.txt", localization)
    return WSOLLayout(tmp_path / "metadata", tmp_path / "dataset", dataset, "test")


def test_reads_boxes_labels_and_images(tmp_path):
    layout = make_layout(tmp_path, "test/a/1.jpg,1,2,5,6\ntest/a/1.jpg,0,0,3,3\n\ntest/b/2.png,2,2,7,7\n")
    assert layout.image_ids() == ["test/a/1.jpg", "test/b/2.png"]
    assert layout.class_labels() == {"test/a/1.jpg": 3, "test/b/2.png": 0}
    assert layout.boxes() == {"test/a/1.jpg": [(1, 2, 5, 6), (0, 0, 3, 3)], "test/b/2.png": [(2, 2, 7, 7)]}
    assert layout.masks() == {}
    with Image.open(layout.image("test/b/2.png")) as image:
        assert image.size == (8, 8)


def test_reads_openimages_masks(tmp_path):
    layout = make_layout(tmp_path, "test/a/1.jpg,masks/1a.png,ignore/1.png\ntest/a/1.jpg,masks/1b.png,\n"
                                   "test/b/2.png,masks/2.png\n", dataset="OpenImages")
    root = tmp_path / "dataset" / "OpenImages"
    assert layout.masks() == {"test/a/1.jpg": [root / "masks/1a.png", root / "masks/1b.png"],
                              "test/b/2.png": [root / "masks/2.png"]}
    assert layout.ignore_masks() == {"test/a/1.jpg": root / "ignore/1.png"}
    assert layout.boxes() == {}


@pytest.mark.parametrize(
    "localization, problem",
    [
        ("test/a/1.jpg,1,2,x,6\n", "localization.txt:1: box coordinates"),
        ("test/a/1.jpg,1,2,5\n", "localization.txt:1: expected"),
        ("test/a/1.jpg,0,0,1,1\ntest/a/1.jpg,5,2,1,6\n", r"localization.txt:2: box \(5, 2, 1, 6\) has x1 < x0"),
        ("test/a/1.jpg,0,0,1,1\ntest/b/2.png,m.png\n", "localization.txt: mixes box lines and mask lines"),
    ],
)
def test_malformed_localization_names_file_and_line(tmp_path, localization, problem):
    layout = make_layout(tmp_path, localization)
    with pytest.raises(DatasetError, match=problem):
        layout.boxes()


def test_class_label_errors_name_the_file(tmp_path):
    layout = make_layout(tmp_path, "")
    labels = layout.folder / "class_labels.txt"
    write(labels, "test/a/1.jpg,3\ntest/b/2.png;0\n")
    with pytest.raises(DatasetError, match=r"class_labels.txt:2: expected '<path>,<class index>'"):
        layout.class_labels()
    write(labels, "test/a/1.jpg,cat\n")
    with pytest.raises(DatasetError, match=r"class_labels.txt:1: class index 'cat'"):
        layout.class_labels()
    write(labels, "test/a/1.jpg,3\n")
    with pytest.raises(DatasetError, match=r"class_labels.txt: no class label for 1 image ids.*test/b/2.png"):
        layout.class_labels()


def test_missing_and_empty_files_are_named(tmp_path):
    layout = make_layout(tmp_path, "")
    (layout.folder / "localization.txt").unlink()
    with pytest.raises(DatasetError, match=r"localization.txt: localization list does not exist"):
        layout.boxes()
    write(layout.folder / "image_ids.txt", "\n\n")
    with pytest.raises(DatasetError, match=r"image_ids.txt: image id list is empty"):
        layout.image_ids()
    write(layout.folder / "image_ids.txt", "x.jpg\nx.jpg\n")
    with pytest.raises(DatasetError, match=r"image_ids.txt: image id list repeats ids"):
        layout.image_ids()
    missing = WSOLLayout(tmp_path / "metadata", tmp_path / "dataset", "ILSVRC", "val")
    with pytest.raises(DatasetError, match=r"ILSVRC/val/image_ids.txt: image id list does not exist"):
        missing.image_ids()

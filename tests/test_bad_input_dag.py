"""Bad data stops the whole DAG in make_labels, before any training, with a line naming the file,
and a rerun after the fix leaves what was computed before untouched."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from wsss.data.synthetic import generate_synthetic_voc

from workflow_helpers import planned_jobs, snakemake, write_config


def voc_config(folder: Path, root: Path) -> None:
    write_config(folder, {"dataset": {"name": "tinyvoc", "kind": "voc", "root": str(root),
                                      "splits": {"train": "ImageSets/Segmentation/train.txt",
                                                 "val": "ImageSets/Segmentation/val.txt"}},
                          "localization": {"experiments": ["cam"]}})


@pytest.mark.parametrize("damage, problem", [
    ("truncate", "train_00003.jpg: cannot decode image"),
    ("mask_value", "train_00003.png: mask has values [42] outside 0..20 and 255"),
])
def test_bad_image_or_mask_stops_before_training(tmp_path, damage, problem):
    root = tmp_path / "voc"
    generate_synthetic_voc(root, n_train=8, n_val=4, image_size=48, progress=False)
    if damage == "truncate":
        path = root / "JPEGImages" / "train_00003.jpg"
        path.write_bytes(path.read_bytes()[:200])
    else:
        path = root / "SegmentationClass" / "train_00003.png"
        with Image.open(path) as image:
            mask, palette = np.array(image), image.getpalette()
        mask[0, 0] = 42
        out = Image.fromarray(mask, mode="P")
        out.putpalette(palette)
        out.save(path)
    voc_config(tmp_path, root)
    out = snakemake(tmp_path, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert problem in text, text[-3000:]
    assert not (tmp_path / "results/tinyvoc/labels.tsv").exists()
    assert not list((tmp_path / "results/tinyvoc").glob("*/seed*/classifier/model.pt"))
    assert "rule train_classifier" not in text  # never started

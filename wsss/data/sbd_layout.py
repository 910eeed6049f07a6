"""Where SBD's preparation reads and writes (wsss.data.sbd): paths only, no numpy or torch, because the
Snakefile imports it to declare rule prepare_voc_sbd's inputs and outputs."""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError

#: Where the outputs go, relative to the VOC2012 folder.
AUG_DIR = "SegmentationClassAug"
TRAIN_AUG_LIST = "ImageSets/Segmentation/train_aug.txt"
#: The four split lists the recipe reads: name -> (which root, path under it).
LISTS = {
    "sbd_train": ("sbd", "train.txt"),
    "sbd_val": ("sbd", "val.txt"),
    "voc_train": ("voc", "ImageSets/Segmentation/train.txt"),
    "voc_val": ("voc", "ImageSets/Segmentation/val.txt"),
}


def sbd_dataset_root(path) -> Path:
    """SBD's dataset folder (holding cls/, train.txt, val.txt): path itself, or path/dataset where path is
    the benchmark_RELEASE folder that benchmark.tgz unpacks to."""
    path = Path(path)
    if not (path / "cls").is_dir() and (path / "dataset" / "cls").is_dir():
        return path / "dataset"
    return path


def list_files(voc_root, sbd_root) -> dict[str, Path]:
    """The paths of the four lists of LISTS, keyed like it, each checked to exist (else a DatasetError)."""
    roots = {"voc": Path(voc_root), "sbd": sbd_dataset_root(sbd_root)}
    paths = {name: roots[root] / relative for name, (root, relative) in LISTS.items()}
    for name, path in paths.items():
        if not path.is_file():
            which = "SBD" if name.startswith("sbd") else "VOC"
            raise DatasetError(f"{path}: {which} split list does not exist")
    return paths

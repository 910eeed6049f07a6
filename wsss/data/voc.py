"""Reader for the standard PASCAL VOC 2012 layout (VOCdevkit/VOC2012), with SBD's SegmentationClassAug.

    <root>/JPEGImages/<id>.jpg
    <root>/SegmentationClass/<id>.png      official masks (0 bg, 1..20, 255 void)
    <root>/SegmentationClassAug/<id>.png   SBD-derived masks for train_aug (used when present)
    <root>/Annotations/<id>.xml            objects with boxes
    <root>/ImageSets/Segmentation/<split>.txt
    <root>/class_names.txt                 only where the classes are not VOC's (wsss.data.classes)

Masks hold 0 (background), 1..K (the K classes of dataset_class_names, VOC's 20 by default) and 255.
Every check raises DatasetError with the offending file's path and what is wrong with it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError
from .classes import CLASS_NAMES, IGNORE_INDEX, NUM_CLASSES

MASK_DIRS = ("SegmentationClassAug", "SegmentationClass")


@dataclass(frozen=True)
class VOCLayout:
    """Paths of one VOC-layout dataset root."""

    root: Path

    def __post_init__(self):
        object.__setattr__(self, "root", Path(self.root))

    def image(self, image_id: str) -> Path:
        return self.root / "JPEGImages" / f"{image_id}.jpg"

    def annotation(self, image_id: str) -> Path:
        return self.root / "Annotations" / f"{image_id}.xml"

    def mask(self, image_id: str) -> Path | None:
        """The ground-truth mask, preferring SegmentationClassAug; None when the image has none."""
        for folder in MASK_DIRS:
            path = self.root / folder / f"{image_id}.png"
            if path.exists():
                return path
        return None


def read_split(path) -> list[str]:
    """Image ids of a split list (one id per line, first column; blank lines skipped)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: split list does not exist")
    ids = [line.split()[0] for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise DatasetError(f"{path}: split list is empty")
    duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if duplicates:
        raise DatasetError(f"{path}: split list repeats ids, e.g. {duplicates[:3]}")
    return ids


def load_image(path) -> np.ndarray:
    """An RGB image as (H, W, 3) uint8; a missing, truncated or non-image file is a DatasetError."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file does not exist")
    try:
        with Image.open(path) as image:
            image.load()  # forces a full decode: truncated JPEGs fail here
            return np.array(image.convert("RGB"))  # owned and writable
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise DatasetError(f"{path}: cannot decode image ({error})") from error


def image_size(path) -> tuple[int, int]:
    """(height, width) of an image from its header, without decoding the pixels."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file does not exist")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"{path}: cannot read image header ({error})") from error
    return height, width


def load_mask(path, expected_size: tuple[int, int] | None = None, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """A ground-truth mask as (H, W) uint8 with values in 0..num_classes or 255, checked (num_classes: the
    dataset's object classes, VOC's 20 unless given)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: mask file does not exist")
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "L"):
                raise DatasetError(f"{path}: mask has mode {image.mode!r}, expected a palette ('P') PNG")
            mask = np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise DatasetError(f"{path}: cannot decode mask ({error})") from error
    bad = np.unique(mask[(mask > num_classes) & (mask != IGNORE_INDEX)])
    if bad.size:
        raise DatasetError(
            f"{path}: mask has values {bad[:5].tolist()} outside 0..{num_classes} and {IGNORE_INDEX}"
        )
    if expected_size is not None and mask.shape != tuple(expected_size):
        raise DatasetError(
            f"{path}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from its image's "
            f"{expected_size[1]}x{expected_size[0]}"
        )
    return mask


def classes_in_mask(mask: np.ndarray, num_classes: int = NUM_CLASSES) -> list[int]:
    """Class indices 1..num_classes painted in a mask (background and void excluded)."""
    values = np.unique(mask)
    return [int(v) for v in values if 1 <= v <= num_classes]


def read_annotation(path, class_names=CLASS_NAMES) -> list[dict]:
    """Objects of a VOC XML annotation: [{'class': int 1..K, 'name', 'box': (xmin, ymin, xmax, ymax), 'difficult'}].

    class_names: the dataset's, background first (dataset_class_names); 'class' is the name's index in it.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: annotation file does not exist")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as error:
        raise DatasetError(f"{path}: cannot parse XML ({error})") from error
    objects = []
    for node in root.iter("object"):
        name = (node.findtext("name") or "").strip()
        if name not in class_names[1:]:
            raise DatasetError(f"{path}: unknown object class {name!r}")
        box = node.find("bndbox")
        coords = tuple(int(float(box.findtext(k))) for k in ("xmin", "ymin", "xmax", "ymax")) if box is not None else None
        objects.append(
            {
                "class": class_names.index(name),
                "name": name,
                "box": coords,
                "difficult": int(node.findtext("difficult") or 0),
            }
        )
    return objects

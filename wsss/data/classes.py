"""Class names of a dataset (VOC's 20 by default), indices and the standard colour palette.

Every stage takes a dataset's class names from ``dataset_class_names(root)``: background first, then the
object classes in label order, so that names[k] names mask value k. A VOC-layout root whose classes are
not VOC's (the converted COCO 2014 layout, wsss.data.coco) lists them in ``class_names.txt``, one name per
line, line k naming mask value k; without that file a root has VOC's 20 classes (VOC itself, the embedded
synthetic dataset). A wsolevaluation dataset's classes are class_000 ... class_<K-1>.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DatasetError

#: The 20 object classes of PASCAL VOC, in label order 1..20.
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)
#: Background (0) followed by the object classes: index == mask value.
CLASS_NAMES = ("background",) + VOC_CLASSES
NUM_CLASSES = len(VOC_CLASSES)  # 20 foreground classes
IGNORE_INDEX = 255

#: The class list of a VOC-layout root with other classes than VOC's (one name per line, label order 1..K).
CLASS_LIST = "class_names.txt"


def wsol_class_names(num_classes: int) -> tuple[str, ...]:
    """Object class names of a single-label wsolevaluation dataset: class_000, class_001, ..."""
    return tuple(f"class_{k:03d}" for k in range(num_classes))


def check_class_names(names, source) -> tuple[str, ...]:
    """The object class names (label order 1..K) after checking that each can be a label-table column:
    non-empty, unique, not 'background', no tab or line break, and that K fits a uint8 mask with 255 void.
    A problem is a DatasetError naming source (the file or key they came from)."""
    names = tuple(names)
    if not 1 <= len(names) < IGNORE_INDEX:
        raise DatasetError(f"{source}: {len(names)} classes; a dataset needs 1..{IGNORE_INDEX - 1}")
    for name in names:
        if not isinstance(name, str) or not name.strip() or name != name.strip() or any(c in name for c in "\t\n\r"):
            raise DatasetError(f"{source}: class name {name!r} is empty, padded or holds a tab or line break")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(f"{source}: class names repeat: {repeated[:3]}")
    if "background" in names:
        raise DatasetError(f"{source}: 'background' is label 0, not an object class")
    return names


def read_class_list(path) -> tuple[str, ...]:
    """The object class names of a CLASS_LIST file, line k naming label k (blank lines ignored)."""
    path = Path(path)
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return check_class_names(lines, path)


def dataset_class_names(root, *, wsol_num_classes: int | None = None) -> tuple[str, ...]:
    """The dataset's class names, background first: names[k] names mask value (label) k.

    root: a VOC-layout folder (its CLASS_LIST, else VOC's CLASS_NAMES) or a wsolevaluation root dict
    (wsss.data.layouts), whose wsol_num_classes classes (config dataset.wsol.num_classes) are numbered.
    """
    if isinstance(root, dict):
        if wsol_num_classes is None:
            raise ValueError("a wsolevaluation root needs wsol_num_classes (config dataset.wsol.num_classes)")
        return ("background", *wsol_class_names(wsol_num_classes))
    path = Path(root) / CLASS_LIST
    return ("background", *read_class_list(path)) if path.is_file() else CLASS_NAMES


def voc_palette() -> np.ndarray:
    """The 256x3 VOC colour map (bit-interleaved label index), as used by the official masks."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    for label in range(256):
        r = g = b = 0
        c = label
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        palette[label] = (r, g, b)
    return palette

"""Reader for the metadata layout of Choe et al. (CVPR 2020), clovaai/wsolevaluation:

    <metadata_root>/<dataset>/<split>/image_ids.txt     one image path per line (the image id)
    <metadata_root>/<dataset>/<split>/class_labels.txt  <path>,<class index>
    <metadata_root>/<dataset>/<split>/localization.txt  <path>,<x0>,<y0>,<x1>,<y1>          (boxes)
                                                        or <path>,<mask path>[,<ignore path>] (masks)
    <data_root>/<dataset>/<path>                        the images; mask paths are relative here too

An image may have several localization lines (several boxes or masks). Boxes are inclusive pixel
corners, rounded to integers. Every check raises DatasetError naming the file (and line) and the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError


def load_binary_mask(path, size) -> np.ndarray:
    """(H, W) bool foreground (pixel > 0) of a mask PNG, checked to have the image's size (H, W)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: mask file does not exist")
    try:
        with Image.open(path) as image:
            mask = np.asarray(image.convert("L"))
    except (OSError, UnidentifiedImageError) as error:
        raise DatasetError(f"{path}: cannot read mask ({error})") from error
    if mask.shape != tuple(size):
        raise DatasetError(f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is {size[1]}x{size[0]}")
    return mask > 0


def _lines(path: Path, what: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of the non-blank lines of a metadata file."""
    if not path.is_file():
        raise DatasetError(f"{path}: {what} does not exist")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path}: cannot read {what} ({error})") from error
    return [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _parse_box(path: Path, number: int, fields: list[str]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) from four number strings, checked to be ordered."""
    try:
        x0, y0, x1, y1 = (round(float(f)) for f in fields)
    except ValueError as error:
        raise DatasetError(f"{path}:{number}: box coordinates {fields} are not numbers") from error
    if x1 < x0 or y1 < y0:
        raise DatasetError(f"{path}:{number}: box ({x0}, {y0}, {x1}, {y1}) has x1 < x0 or y1 < y0")
    return x0, y0, x1, y1


@dataclass(frozen=True)
class WSOLLayout:
    """Metadata files and image paths of one dataset split in the wsolevaluation layout."""

    metadata_root: Path
    data_root: Path
    dataset: str
    split: str

    def __post_init__(self):
        object.__setattr__(self, "metadata_root", Path(self.metadata_root))
        object.__setattr__(self, "data_root", Path(self.data_root))

    @property
    def folder(self) -> Path:
        return self.metadata_root / self.dataset / self.split

    def image(self, image_id: str) -> Path:
        return self.data_root / self.dataset / image_id

    def image_ids(self) -> list[str]:
        """The split's image ids in file order; an empty list or a repeated id is a DatasetError."""
        path = self.folder / "image_ids.txt"
        ids = [line for _, line in _lines(path, "image id list")]
        if not ids:
            raise DatasetError(f"{path}: image id list is empty")
        if len(set(ids)) != len(ids):
            seen, repeated = set(), []
            for i in ids:
                if i in seen:
                    repeated.append(i)
                seen.add(i)
            raise DatasetError(f"{path}: image id list repeats ids, e.g. {repeated[:3]}")
        return ids

    def class_labels(self) -> dict[str, int]:
        """{image id: class index} for every id of image_ids.txt (extra lines for other ids are kept)."""
        path = self.folder / "class_labels.txt"
        labels: dict[str, int] = {}
        for number, line in _lines(path, "class label list"):
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != 2 or not fields[0]:
                raise DatasetError(f"{path}:{number}: expected '<path>,<class index>', got {line!r}")
            try:
                label = int(fields[1])
            except ValueError as error:
                raise DatasetError(f"{path}:{number}: class index {fields[1]!r} is not an integer") from error
            if label < 0:
                raise DatasetError(f"{path}:{number}: class index {label} is negative")
            if labels.get(fields[0], label) != label:
                raise DatasetError(f"{path}:{number}: {fields[0]} has classes {labels[fields[0]]} and {label}")
            labels[fields[0]] = label
        missing = [i for i in self.image_ids() if i not in labels]
        if missing:
            raise DatasetError(f"{path}: no class label for {len(missing)} image ids, e.g. {missing[:3]}")
        return labels

    def _localization(self) -> tuple[dict[str, list], dict[str, list], dict[str, Path]]:
        """(boxes, masks, ignore masks) parsed from localization.txt, each keyed by image id."""
        path = self.folder / "localization.txt"
        boxes: dict[str, list] = {}
        masks: dict[str, list] = {}
        ignores: dict[str, Path] = {}
        root = self.data_root / self.dataset
        for number, line in _lines(path, "localization list"):
            fields = [f.strip() for f in line.split(",")]
            image_id = fields[0]
            if not image_id:
                raise DatasetError(f"{path}:{number}: line has no image path: {line!r}")
            if len(fields) == 5:
                boxes.setdefault(image_id, []).append(_parse_box(path, number, fields[1:]))
            elif len(fields) in (2, 3) and fields[1]:
                masks.setdefault(image_id, []).append(root / fields[1])
                if len(fields) == 3 and fields[2]:
                    if image_id in ignores:
                        raise DatasetError(f"{path}:{number}: second ignore mask for {image_id}")
                    ignores[image_id] = root / fields[2]
            else:
                raise DatasetError(
                    f"{path}:{number}: expected '<path>,<x0>,<y0>,<x1>,<y1>' or "
                    f"'<path>,<mask path>[,<ignore path>]', got {line!r}"
                )
        if boxes and masks:
            raise DatasetError(f"{path}: mixes box lines and mask lines")
        return boxes, masks, ignores

    def boxes(self) -> dict[str, list[tuple[int, int, int, int]]]:
        """{image id: [(x0, y0, x1, y1), ...]} inclusive pixel boxes; empty for a mask split."""
        return self._localization()[0]

    def masks(self) -> dict[str, list[Path]]:
        """{image id: [mask path, ...]} resolved under data_root/dataset; empty for a box split."""
        return self._localization()[1]

    def ignore_masks(self) -> dict[str, Path]:
        """{image id: ignore-mask path} for the images whose mask lines name one (OpenImages)."""
        return self._localization()[2]

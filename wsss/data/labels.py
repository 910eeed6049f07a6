"""Image-level labels: read once from the masks, XML objects or class lists, written to one table.

The table (TSV) has one row per (split, image_id) with the image size, where the labels came
from ('mask', 'xml' or 'class_labels'), whether a ground-truth mask exists, and one 0/1 column per
class: the dataset's classes (wsss.data.classes.dataset_class_names: VOC's 20, the names of a COCO layout's
class_names.txt), or class_000 ... class_<K-1> for a wsolevaluation dataset (CUB, OpenImages).
The class columns are whatever follows META_COLUMNS, in order; class column k is mask value k + 1.
Every later stage reads its labels from this table and never looks at the masks for them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..errors import DatasetError
from .classes import CLASS_LIST, dataset_class_names
from .classes import wsol_class_names as _wsol_class_names
from .voc import VOCLayout, classes_in_mask, image_size, load_image, load_mask, read_annotation, read_split
from .wsol_layout import WSOLLayout

#: The columns before the class columns.
META_COLUMNS = ("split", "image_id", "height", "width", "label_source", "has_mask")


def class_columns(columns) -> list[str]:
    """The class columns of a label table (or of one row's index), in class order."""
    return [c for c in columns if c not in META_COLUMNS]


def wsol_class_names(num_classes: int) -> list[str]:
    """Class column names of a single-label wsolevaluation dataset: class_000, class_001, ..."""
    return list(_wsol_class_names(num_classes))


#: Where a VOC-layout label table takes an image's classes from (config dataset.label_source).
LABEL_SOURCES = ("masks", "xml")


def image_record(layout: VOCLayout, image_id: str, *, decode: bool = True, label_source: str = "masks",
                 class_names=None) -> dict:
    """Check one image (and its mask) and return its row: size, label source, per-class 0/1.

    label_source "masks": the classes painted in its mask, the XML objects where it has none; "xml": the
    XML objects always (the mask, when there is one, is still checked). class_names: the dataset's,
    background first (None: dataset_class_names of the layout's root).
    """
    if label_source not in LABEL_SOURCES:
        raise ValueError(f"label source {label_source!r} is not one of {LABEL_SOURCES}")
    names = dataset_class_names(layout.root) if class_names is None else tuple(class_names)
    num_classes = len(names) - 1
    image_path = layout.image(image_id)
    if not image_path.is_file():
        raise DatasetError(f"{image_path}: listed id {image_id!r} has no image file")
    size = load_image(image_path).shape[:2] if decode else image_size(image_path)
    mask_path = layout.mask(image_id)
    mask = load_mask(mask_path, expected_size=size, num_classes=num_classes) if mask_path is not None else None
    if label_source == "xml":
        classes, source = sorted({o["class"] for o in read_annotation(layout.annotation(image_id), names)}), "xml"
    elif mask is not None:
        classes, source = classes_in_mask(mask, num_classes), "mask"
    elif layout.annotation(image_id).is_file():
        classes, source = sorted({o["class"] for o in read_annotation(layout.annotation(image_id), names)}), "xml"
    else:
        raise DatasetError(f"{image_path}: no mask and no annotation XML to take labels from")
    row = {"image_id": image_id, "height": size[0], "width": size[1], "label_source": source,
           "has_mask": mask_path is not None}
    present = set(classes)
    row.update({name: int(index in present) for index, name in enumerate(names) if index > 0})
    return row


def build_label_table(root, splits: dict[str, str], *, decode: bool = True, progress: bool = True,
                      label_source: str = "masks") -> pd.DataFrame:
    """Read every split list under root, check every image, and return the label table.

    splits maps a split name to its list file relative to root. decode=True fully decodes each
    JPEG so a truncated file is caught here, before any training. label_source: see image_record. The
    class columns are the root's classes (dataset_class_names), in label order.
    """
    layout = VOCLayout(Path(root))
    if not layout.root.is_dir():
        raise DatasetError(f"{layout.root}: dataset root does not exist")
    names = dataset_class_names(layout.root)
    clash = [name for name in names[1:] if name in META_COLUMNS]
    if clash:
        raise DatasetError(f"{layout.root / CLASS_LIST}: class names {clash} are label-table columns "
                           f"{list(META_COLUMNS)}")
    rows, seen = [], {}
    for split, list_file in splits.items():
        ids = read_split(layout.root / list_file)
        for image_id in tqdm(ids, desc=f"check {split}", disable=not progress, mininterval=2):
            if image_id not in seen:
                seen[image_id] = image_record(layout, image_id, decode=decode, label_source=label_source,
                                              class_names=names)
            rows.append({"split": split, **seen[image_id]})
    return pd.DataFrame(rows)


def build_wsol_label_table(metadata_root, data_root, name: str, splits: dict[str, str], num_classes: int, *,
                           decode: bool = True, progress: bool = True) -> pd.DataFrame:
    """The label table of a wsolevaluation-layout dataset (one class per image).

    splits maps a split name to its folder under <metadata_root>/<name>/; every listed image is checked
    to exist (and, with decode, to decode), every class index to be below num_classes.
    """
    classes = wsol_class_names(num_classes)
    rows, seen = [], {}
    for split, folder in splits.items():
        layout = WSOLLayout(metadata_root, data_root, name, folder)
        labels = layout.class_labels()  # (training splits may come without localization.txt)
        with_masks = set(layout.masks()) if (layout.folder / "localization.txt").is_file() else set()
        for image_id in tqdm(layout.image_ids(), desc=f"check {split}", disable=not progress, mininterval=2):
            if image_id not in seen:
                label = labels[image_id]
                if label >= num_classes:
                    raise DatasetError(f"{layout.folder / 'class_labels.txt'}: {image_id} has class {label}, "
                                       f"but config dataset.wsol.num_classes is {num_classes}")
                path = layout.image(image_id)
                if not path.is_file():
                    raise DatasetError(f"{path}: listed id {image_id!r} has no image file")
                size = load_image(path).shape[:2] if decode else image_size(path)
                seen[image_id] = {"image_id": image_id, "height": size[0], "width": size[1],
                                  "label_source": "class_labels", "has_mask": image_id in with_masks,
                                  **{c: int(k == label) for k, c in enumerate(classes)}}
            rows.append({"split": split, **seen[image_id]})
    return pd.DataFrame(rows, columns=[*META_COLUMNS, *classes])


def read_label_table(path) -> pd.DataFrame:
    """Load a label table written by the make_labels rule."""
    table = pd.read_csv(path, sep="\t", dtype={"image_id": str})
    missing = [c for c in META_COLUMNS if c not in table.columns]
    if missing or not class_columns(table.columns):
        raise DatasetError(f"{path}: label table lacks columns {missing or ['(any class column)']}")
    return table


def split_rows(table: pd.DataFrame, split: str, *, source=None) -> pd.DataFrame:
    """Rows of one split; a split that is missing or empty is an error naming it."""
    rows = table[table["split"] == split].reset_index(drop=True)
    if rows.empty:
        where = f"{source}: " if source else ""
        raise DatasetError(f"{where}split {split!r} has no images (known splits: {sorted(table['split'].unique())})")
    return rows


def label_matrix(rows: pd.DataFrame) -> np.ndarray:
    """(N, K) float32 multi-hot (or one-hot) labels of the given rows."""
    return rows[class_columns(rows.columns)].to_numpy(dtype=np.float32)


def class_keys(row) -> np.ndarray:
    """Class indices 1..K (mask values) labelled in one row of the table."""
    return np.array([i + 1 for i, name in enumerate(class_columns(row.index)) if row[name]], dtype=np.int64)


def has_object_label(rows: pd.DataFrame) -> pd.Series:
    """Per row: whether the image has at least one object label (some class column is 1)."""
    return rows[class_columns(rows.columns)].sum(axis=1) > 0


def labelled_rows(rows: pd.DataFrame, log=None) -> pd.DataFrame:
    """Rows with at least one object label; the others are skipped (not an error), each named in the log,
    then their count."""
    labelled = has_object_label(rows)
    skipped = rows.loc[~labelled, "image_id"].tolist()
    if log is not None:
        for image_id in skipped:
            log.warning("skipping image %s: no object label", image_id)
        if skipped:
            log.warning("skipped %d of %d images: no object label", len(skipped), len(rows))
    return rows[labelled].reset_index(drop=True)


def subset_rows(rows: pd.DataFrame, table_path, subset: str | None) -> pd.DataFrame:
    """The rows whose images are also in split `subset` of the label table (config evaluation.subsets);
    all rows when subset is None. A subset image missing from rows is a DatasetError naming both."""
    if subset is None:
        return rows
    ids = split_rows(read_label_table(table_path), subset, source=table_path)["image_id"]
    missing = sorted(set(ids) - set(rows["image_id"]))
    if missing:
        split = rows["split"].iloc[0] if len(rows) else "?"
        raise DatasetError(f"{table_path}: {len(missing)} images of split {subset!r} are not in split {split!r}, "
                           f"e.g. {missing[:3]} (config evaluation.subsets)")
    return rows[rows["image_id"].isin(set(ids))].reset_index(drop=True)


def load_split(table_path, split: str, *, labelled_only: bool = False, log=None) -> pd.DataFrame:
    """The rows of one split of a label table file; with labelled_only, images without labels skipped (and logged)."""
    rows = split_rows(read_label_table(table_path), split, source=table_path)
    return labelled_rows(rows, log) if labelled_only else rows

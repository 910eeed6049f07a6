"""MS COCO 2014 instances -> the pipeline's VOC layout, made once (rule make_coco_masks).

Input: a COCO root holding the images <root>/<set>/<file_name> and the instances file
<root>/annotations/instances_<set>.json of every configured image set (config dataset.coco.splits, e.g.
{train: train2014, val: val2014}). Output: one folder that every later stage reads as a VOC-layout root
(wsss.data.voc), the rest of the DAG as for VOC:

    JPEGImages/<id>.jpg                  symbolic link to <root>/<set>/<file_name>; id = file_name less .jpg
    SegmentationClass/<id>.png           semantic mask (VOC palette PNG), values 0..K
    Annotations/<id>.xml                 one <object> per annotation: name, bndbox, difficult (= iscrowd)
    ImageSets/Segmentation/<split>.txt   the split's ids in ascending COCO image id
    class_names.txt                      the K category names, line k naming mask value k (wsss.data.classes)
    categories.tsv                       mask value, COCO category id, name

Conventions: those of the semantic masks that COCO 2014 WSSS results are usually scored on, as ReCAM's
mscoco/annToMask.py makes them (zhaozhengChen/ReCAM @ 2bdbcd2; the SIPE authors point to it for COCO14
ground truth, chenqi1126/SIPE issue #13), which paints as the COCO-Stuff helper
cocoSegmentationToSegmentationMap does (cocodataset/cocoapi PythonAPI/pycocotools/cocostuffhelper.py):

- Mask value of a category: 1 + its rank among the file's category ids, ascending (COCO 2014: person 1 ...
  toothbrush 80; ids 12, 26, 29, 30, 45, 66, 68, 69, 71 and 83 are unused, so id 90 is value 80).
- An image's instances are painted in the order its annotations come in the JSON, each over the earlier
  ones: where instances overlap, the later one's class wins. Pixels of no instance are background, 0.
- Crowd annotations (iscrowd 1) are not painted: their regions stay background 0, as in those masks. The
  masks hold no 255 (COCO has no void band).
- Image-level labels: the category of every annotation, crowd ones included (ReCAM's
  COCOClassificationDataset labels an image with the categories of all its annotations). The XML lists
  them all, crowd ones marked difficult, so `dataset.label_source: xml` reads them; `masks` gives the
  painted classes only.
- An image that its JSON lists without any annotation is skipped: it is in no split list; the summary
  counts them and the log names them (as later stages name and count images without an object label).
  ReCAM's scripts keep such images, with an empty label vector and an all-background mask, so their
  segmentation scores count them as background; here they are neither trained on nor scored.
- max_images {split: N} keeps the first N annotated images of a split in ascending image id.

Every problem with the input (a JSON that is not a COCO instances file, an annotation whose category id is
not among the categories or whose image is not listed, a missing image file, an image whose size is not
the JSON's) is a DatasetError naming the file and the problem, raised before anything is written.
Segmentations are rasterised with pycocotools, as COCO.annToMask does; one it cannot rasterise stops the
conversion with a DatasetError naming the file, the image and the annotation.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils
from tqdm import tqdm

from ..errors import DatasetError
from ..io.png import write_label_png
from .classes import CLASS_LIST, check_class_names
from .voc import image_size

#: The summary's columns, one row per split (convert_coco).
SUMMARY_COLUMNS = ("split", "coco_set", "listed", "without_annotations", "images", "annotations",
                   "crowd_annotations")


@dataclass(frozen=True)
class CocoSet:
    """One COCO image set's instances file, checked.

    images: COCO image id -> {'id', 'file_name', 'height', 'width'}; annotations: image id -> its
    annotations in file order; categories: ((category id, name), ...) in ascending id.
    """

    path: Path
    images: dict
    annotations: dict
    categories: tuple

    def image_id(self, coco_id: int) -> str:
        """The pipeline's id of an image: its file name without the extension."""
        return Path(self.images[coco_id]["file_name"]).stem


def instances_path(coco_root, coco_set: str) -> Path:
    """Where a COCO image set's instances file lies: <root>/annotations/instances_<set>.json."""
    return Path(coco_root) / "annotations" / f"instances_{coco_set}.json"


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_entries(path, entries, what: str, keys: dict) -> None:
    """Every entry a dict with keys of the given types (key -> predicate, description)."""
    for n, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DatasetError(f"{path}: {what} entry {n} is not an object (not a COCO instances file?)")
        for key, (ok, kind) in keys.items():
            if key not in entry or not ok(entry[key]):
                name = f"{what} {entry.get('id', n)}"
                raise DatasetError(f"{path}: {name} lacks {kind} {key!r} (not a COCO instances file?)")


def read_instances(path) -> CocoSet:
    """Load and check a COCO instances JSON (images, annotations with segmentations, categories)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: COCO instances file does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise DatasetError(f"{path}: not a JSON file ({error})") from error
    if not isinstance(data, dict):
        raise DatasetError(f"{path}: not a COCO instances file (the JSON is not an object)")
    missing = [key for key in ("images", "annotations", "categories") if not isinstance(data.get(key), list)]
    if missing:
        raise DatasetError(f"{path}: not a COCO instances file: it has no list {missing}")
    _check_entries(path, data["categories"], "category", {
        "id": (_is_int, "an integer"), "name": (lambda v: isinstance(v, str), "a string")})
    _check_entries(path, data["images"], "image", {
        "id": (_is_int, "an integer"), "file_name": (lambda v: isinstance(v, str) and v, "a string"),
        "height": (lambda v: _is_int(v) and v > 0, "a positive integer"),
        "width": (lambda v: _is_int(v) and v > 0, "a positive integer")})
    _check_entries(path, data["annotations"], "annotation", {
        "image_id": (_is_int, "an integer"), "category_id": (_is_int, "an integer"),
        "segmentation": (lambda v: isinstance(v, (list, dict)), "a polygon list or RLE")})
    categories = sorted((c["id"], c["name"]) for c in data["categories"])
    ids = [c for c, _ in categories]
    if len(set(ids)) != len(ids):
        raise DatasetError(f"{path}: category ids repeat: {sorted({c for c in ids if ids.count(c) > 1})[:3]}")
    if not categories:
        raise DatasetError(f"{path}: not a COCO instances file: it has no categories")
    check_class_names([name for _, name in categories], path)
    images = {}
    for image in data["images"]:
        if image["id"] in images:
            raise DatasetError(f"{path}: image id {image['id']} is listed twice")
        images[image["id"]] = {key: image[key] for key in ("id", "file_name", "height", "width")}
    known = set(ids)
    annotations: dict[int, list] = {}
    for n, ann in enumerate(data["annotations"]):
        label = f"annotation {ann.get('id', n)} (image {ann['image_id']})"
        if ann["category_id"] not in known:
            shown = ", ".join(map(str, ids[:5])) + (", ..." if len(ids) > 5 else "")
            raise DatasetError(f"{path}: {label} has category id {ann['category_id']}, which is not among "
                               f"the {len(ids)} categories' ids ({shown})")
        if ann["image_id"] not in images:
            raise DatasetError(f"{path}: {label} is of an image id the file does not list")
        annotations.setdefault(ann["image_id"], []).append(ann)
    stems = {}
    for coco_id in images:
        stem = Path(images[coco_id]["file_name"]).stem
        if stem in stems:
            raise DatasetError(f"{path}: images {stems[stem]} and {coco_id} have the same file name stem {stem!r}")
        stems[stem] = coco_id
    return CocoSet(path, images, annotations, tuple(categories))


def category_labels(categories) -> dict[int, int]:
    """{COCO category id: mask value}: 1 + the id's rank in ascending order (categories: (id, name) pairs)."""
    return {category: value for value, category in enumerate(sorted(c for c, _ in categories), start=1)}


def instance_mask(segmentation, height: int, width: int, source: str = "") -> np.ndarray:
    """(height, width) bool pixels of one annotation's segmentation, rasterised by pycocotools as
    COCO.annToMask does: polygons ([[x0, y0, x1, y1, ...], ...], merged), uncompressed RLE ({'counts':
    [ints], 'size': [h, w]}) or compressed RLE ({'counts': str, 'size': [h, w]}). source names the
    annotation in an error."""
    try:
        if isinstance(segmentation, list):
            if not segmentation:
                return np.zeros((height, width), dtype=bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
        elif isinstance(segmentation.get("counts"), list):
            rle = mask_utils.frPyObjects(segmentation, height, width)
        else:
            rle = segmentation
        if list(rle.get("size", ())) != [height, width]:
            raise DatasetError(f"{source}: RLE size {rle.get('size')} is not the image's [{height}, {width}]")
        return mask_utils.decode(rle).astype(bool)
    except DatasetError:
        raise
    except Exception as error:  # pycocotools raises TypeError, ValueError, ... on malformed data
        raise DatasetError(f"{source}: cannot rasterise the segmentation ({type(error).__name__}: {error})") from error


def semantic_mask(annotations, height: int, width: int, labels: dict[int, int], source: str = "") -> np.ndarray:
    """(height, width) uint8 mask of one image: 0 background, labels[category] where an instance lies;
    instances painted in the given order, later ones over earlier ones; crowd annotations not painted."""
    mask = np.zeros((height, width), dtype=np.uint8)
    for ann in annotations:
        if ann.get("iscrowd", 0):
            continue
        where = f"{source}: annotation {ann.get('id', '?')}"
        mask[instance_mask(ann["segmentation"], height, width, where)] = labels[ann["category_id"]]
    return mask


def voc_box(bbox, height: int, width: int) -> tuple[int, int, int, int] | None:
    """A COCO box [x, y, w, h] (continuous, 0-based) as VOC's 1-based inclusive pixel box (xmin, ymin,
    xmax, ymax): the pixels the box touches, clipped to the image; None for a malformed box."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        return None
    x, y, w, h = (float(v) for v in bbox)
    xmin = min(max(math.floor(x) + 1, 1), width)
    ymin = min(max(math.floor(y) + 1, 1), height)
    xmax = min(max(math.ceil(x + w), xmin), width)
    ymax = min(max(math.ceil(y + h), ymin), height)
    return xmin, ymin, xmax, ymax


def annotation_xml(image: dict, annotations, names: dict[int, str]) -> str:
    """A VOC annotation XML of one image: one object per annotation (its category's name, its box, and
    difficult = iscrowd, with an iscrowd element), in file order. names: {category id: name}."""
    root = ET.Element("annotation")
    ET.SubElement(root, "folder").text = "COCO"
    ET.SubElement(root, "filename").text = image["file_name"]
    size = ET.SubElement(root, "size")
    for key, value in (("width", image["width"]), ("height", image["height"]), ("depth", 3)):
        ET.SubElement(size, key).text = str(value)
    ET.SubElement(root, "segmented").text = "1"
    for ann in annotations:
        crowd = int(bool(ann.get("iscrowd", 0)))
        node = ET.SubElement(root, "object")
        ET.SubElement(node, "name").text = names[ann["category_id"]]
        ET.SubElement(node, "difficult").text = str(crowd)
        ET.SubElement(node, "iscrowd").text = str(crowd)
        box = voc_box(ann.get("bbox"), image["height"], image["width"])
        if box is not None:
            bndbox = ET.SubElement(node, "bndbox")
            for key, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
                ET.SubElement(bndbox, key).text = str(value)
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="unicode") + "\n"


@dataclass(frozen=True)
class _Task:
    """What writing one image needs (picklable, for worker processes)."""

    image_id: str
    source: str          # the image file, absolute
    json: str            # its instances file, for errors
    image: dict
    annotations: list


def _write_image(task: _Task, out: Path, labels: dict[int, int], names: dict[int, str]) -> None:
    mask = semantic_mask(task.annotations, task.image["height"], task.image["width"], labels,
                         f"{task.json}: image {task.image['id']}")
    write_label_png(out / "SegmentationClass" / f"{task.image_id}.png", mask)
    xml = out / "Annotations" / f"{task.image_id}.xml"
    tmp = xml.with_name(xml.name + ".tmp")
    tmp.write_text(annotation_xml(task.image, task.annotations, names), encoding="utf-8")
    os.replace(tmp, xml)
    link = out / "JPEGImages" / f"{task.image_id}.jpg"
    if link.is_symlink() or link.exists():
        link.unlink()
    os.symlink(task.source, link)


_WORKER: dict = {}


def _init_worker(out, labels, names) -> None:
    _WORKER.update(out=out, labels=labels, names=names)


def _run_task(task: _Task) -> None:
    _write_image(task, _WORKER["out"], _WORKER["labels"], _WORKER["names"])


def _split_tasks(coco_root, split: str, coco_set: str, instances: CocoSet, max_images, log):
    """(tasks of the split's kept images in ascending COCO id, its summary row); checks every kept image."""
    listed = sorted(instances.images)
    annotated = [i for i in listed if instances.annotations.get(i)]
    skipped = [i for i in listed if not instances.annotations.get(i)]
    if log is not None:
        for coco_id in skipped:
            log.warning("skipping COCO image %s (%s): no annotation", coco_id, instances.image_id(coco_id))
        if skipped:
            log.warning("%s: skipped %d of %d images: no annotation", split, len(skipped), len(listed))
    kept = annotated[:max_images] if max_images is not None else annotated
    if not kept:
        raise DatasetError(f"{instances.path}: no image with an annotation (split {split!r})")
    folder = Path(coco_root) / coco_set
    tasks = []
    for coco_id in kept:
        image = instances.images[coco_id]
        path = folder / image["file_name"]
        if not path.is_file():
            raise DatasetError(f"{path}: image file of COCO image id {coco_id} (listed in {instances.path}) "
                               "does not exist")
        height, width = image_size(path)
        if (height, width) != (image["height"], image["width"]):
            raise DatasetError(f"{path}: image is {width}x{height} (WxH), but {instances.path} gives image id "
                               f"{coco_id} {image['width']}x{image['height']}")
        tasks.append(_Task(instances.image_id(coco_id), str(path.resolve()), str(instances.path), image,
                           instances.annotations[coco_id]))
    anns = [a for coco_id in kept for a in instances.annotations[coco_id]]
    row = {"split": split, "coco_set": coco_set, "listed": len(listed), "without_annotations": len(skipped),
           "images": len(kept), "annotations": len(anns),
           "crowd_annotations": sum(1 for a in anns if a.get("iscrowd", 0))}
    return tasks, row


def convert_coco(coco_root, out, splits: dict[str, str], *, max_images: dict[str, int] | None = None,
                 workers: int = 1, progress: bool = True, log=None) -> pd.DataFrame:
    """Write the VOC layout of the module docstring under out; return the summary (SUMMARY_COLUMNS).

    splits: split name -> COCO image set (train2014, val2014); max_images: split name -> at most this many
    images (the first annotated ones in ascending id). Every instances file and every kept image is
    checked before anything is written; workers > 1 writes the masks in that many processes.
    """
    coco_root, out, max_images = Path(coco_root), Path(out), dict(max_images or {})
    unknown = sorted(set(max_images) - set(splits))
    if unknown:
        raise DatasetError(f"config key dataset.coco.max_images: splits {unknown} are not in dataset.coco.splits")
    if not coco_root.is_dir():
        raise DatasetError(f"{coco_root}: COCO root does not exist")
    sets = {name: read_instances(instances_path(coco_root, name)) for name in dict.fromkeys(splits.values())}
    first = next(iter(sets.values()))
    for instances in sets.values():
        if instances.categories != first.categories:
            raise DatasetError(f"{instances.path}: its categories differ from those of {first.path}")
    labels, names = category_labels(first.categories), dict(first.categories)
    tasks, rows, members = {}, [], {}
    for split, coco_set in splits.items():
        split_tasks, row = _split_tasks(coco_root, split, coco_set, sets[coco_set], max_images.get(split), log)
        members[split] = [task.image_id for task in split_tasks]
        for task in split_tasks:
            if task.image_id in tasks and tasks[task.image_id].source != task.source:
                raise DatasetError(f"{task.source}: its id {task.image_id!r} is also that of "
                                   f"{tasks[task.image_id].source}")
            tasks[task.image_id] = task
        rows.append(row)
    for folder in ("JPEGImages", "SegmentationClass", "Annotations", "ImageSets/Segmentation"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    todo = list(tasks.values())
    bar = tqdm(total=len(todo), desc="COCO masks", disable=not progress, mininterval=5)
    if workers > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers, initializer=_init_worker, initargs=(out, labels, names)) as pool:
            for _ in pool.imap_unordered(_run_task, todo, chunksize=64):
                bar.update()
    else:
        for task in todo:
            _write_image(task, out, labels, names)
            bar.update()
    bar.close()
    for split, ids in members.items():
        (out / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    (out / CLASS_LIST).write_text("".join(f"{name}\n" for _, name in first.categories), encoding="utf-8")
    pd.DataFrame([{"value": labels[c], "category_id": c, "name": name} for c, name in first.categories]).to_csv(
        out / "categories.tsv", sep="\t", index=False)
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

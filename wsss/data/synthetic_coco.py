"""A tiny dataset in the MS COCO 2014 layout, drawn by the synthetic generator (tests, demos).

The images of wsss.data.synthetic.generate_image, written as COCO ships its data:

    <root>/train2014/COCO_train2014_<id, 12 digits>.jpg   <root>/val2014/COCO_val2014_<id>.jpg
    <root>/annotations/instances_train2014.json           <root>/annotations/instances_val2014.json

with a few real COCO categories of non-contiguous ids, listed out of id order (CATEGORIES): synthetic class
k (1..20) is category CATEGORIES[(k - 1) % len(CATEGORIES)]. Every visible object is one annotation whose
segmentation is the compressed RLE of its pixels outside the synthetic void band (category_value gives the
mask value wsss.data.coco paints it with), except that the first object of every crowd_every-th training
image is a crowd annotation (iscrowd 1, uncompressed RLE). Each set also lists `unannotated` images without
any annotation. Image ids: train 1000 + index, val 2000 + index (unannotated ones after them).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from .synthetic import generate_image

#: (COCO category id, name) as the fixture's JSON lists them: not in id order, ids not contiguous.
CATEGORIES = ((90, "toothbrush"), (1, "person"), (10, "traffic light"), (3, "car"))
#: The COCO image set of each synthetic split.
SETS = {"train": "train2014", "val": "val2014"}
FIRST_ID = {"train": 1000, "val": 2000}


def category_of(class_index: int) -> int:
    """The COCO category id of synthetic class class_index (1..20)."""
    return CATEGORIES[(class_index - 1) % len(CATEGORIES)][0]


def category_value(category_id: int) -> int:
    """The mask value of a fixture category: 1 + its rank among the ids in ascending order."""
    return sorted(c for c, _ in CATEGORIES).index(category_id) + 1


def file_name(split: str, coco_id: int) -> str:
    return f"COCO_{SETS[split]}_{coco_id:012d}.jpg"


def _rle(pixels: np.ndarray, compressed: bool) -> dict:
    rle = mask_utils.encode(np.asfortranarray(pixels.astype(np.uint8)))
    if compressed:
        return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}
    # COCO's uncompressed RLE: lengths of the alternating runs of 0s and 1s in column-major order, 0s first
    flat = pixels.astype(np.uint8).flatten(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    runs = ([0] if flat[0] else []) + np.diff(bounds).tolist()
    return {"size": [int(v) for v in pixels.shape], "counts": [int(r) for r in runs]}


def write_synthetic_coco(root, *, seed: int = 0, n_train: int = 16, n_val: int = 8, image_size: int = 64,
                         max_objects: int = 3, crowd_every: int = 5, unannotated: int = 1) -> dict:
    """Write the dataset of the module docstring under root; return {split: number of annotated images}."""
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, n_images in (("train", n_train), ("val", n_val)):
        folder = root / SETS[split]
        folder.mkdir(parents=True, exist_ok=True)
        images, annotations = [], []
        for index in range(n_images + unannotated):
            sample = generate_image(seed, split, index, image_size=image_size, max_objects=max_objects)
            coco_id = FIRST_ID[split] + index
            name = file_name(split, coco_id)
            Image.fromarray(sample.image, mode="RGB").save(folder / name, format="JPEG", quality=95)
            images.append({"id": coco_id, "file_name": name, "height": image_size, "width": image_size})
            if index >= n_images:
                continue  # listed, never annotated
            for k, obj in enumerate(sample.objects):
                pixels = obj.visible & (sample.labels == obj.class_index)
                crowd = split == "train" and k == 0 and index % crowd_every == 0
                rle = _rle(pixels, compressed=not crowd)
                encoded = mask_utils.encode(np.asfortranarray(pixels.astype(np.uint8)))
                annotations.append({
                    "id": len(annotations) + 1 + 100000 * (split == "val"), "image_id": coco_id,
                    "category_id": category_of(obj.class_index), "iscrowd": int(crowd), "segmentation": rle,
                    "area": float(mask_utils.area(encoded)), "bbox": [float(v) for v in mask_utils.toBbox(encoded)],
                })
        data = {"info": {"description": "synthetic COCO-layout fixture"}, "licenses": [], "images": images,
                "annotations": annotations,
                "categories": [{"id": c, "name": name, "supercategory": "synthetic"} for c, name in CATEGORIES]}
        (root / "annotations" / f"instances_{SETS[split]}.json").write_text(json.dumps(data))
        counts[split] = n_images
    return counts

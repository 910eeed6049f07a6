"""A tiny dataset in the MS COCO 2014 layout, drawn by the synthetic generator (tests, demos).

The images of wsss.data.synthetic.generate_image, written as COCO ships its data:

    <root>/train2014/COCO_train2014_<id, 12 digits>.jpg   <root>/val2014/COCO_val2014_<id>.jpg
    <root>/annotations/instances_train2014.json           <root>/annotations/instances_val2014.json

with a few real COCO categories of non-contiguous ids, listed out of id order (CATEGORIES), or any other
list of them (COCO2014_CATEGORIES: all 80): synthetic class k (1..20) is category categories[(k - 1) %
len(categories)]. Every visible object is one annotation whose segmentation is the compressed RLE of its
pixels outside the synthetic void band (category_value gives the mask value wsss.data.coco paints it
with), except that the first object of every crowd_every-th training
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

#: (COCO category id, name) as the fixture's JSON lists them by default: not in id order, ids not contiguous.
CATEGORIES = ((90, "toothbrush"), (1, "person"), (10, "traffic light"), (3, "car"))
#: MS COCO 2014's 80 categories in id order (ids 12, 26, 29, 30, 45, 66, 68, 69, 71 and 83 are unused).
COCO2014_CATEGORIES = (
    (1, "person"), (2, "bicycle"), (3, "car"), (4, "motorcycle"), (5, "airplane"), (6, "bus"), (7, "train"),
    (8, "truck"), (9, "boat"), (10, "traffic light"), (11, "fire hydrant"), (13, "stop sign"),
    (14, "parking meter"), (15, "bench"), (16, "bird"), (17, "cat"), (18, "dog"), (19, "horse"), (20, "sheep"),
    (21, "cow"), (22, "elephant"), (23, "bear"), (24, "zebra"), (25, "giraffe"), (27, "backpack"),
    (28, "umbrella"), (31, "handbag"), (32, "tie"), (33, "suitcase"), (34, "frisbee"), (35, "skis"),
    (36, "snowboard"), (37, "sports ball"), (38, "kite"), (39, "baseball bat"), (40, "baseball glove"),
    (41, "skateboard"), (42, "surfboard"), (43, "tennis racket"), (44, "bottle"), (46, "wine glass"),
    (47, "cup"), (48, "fork"), (49, "knife"), (50, "spoon"), (51, "bowl"), (52, "banana"), (53, "apple"),
    (54, "sandwich"), (55, "orange"), (56, "broccoli"), (57, "carrot"), (58, "hot dog"), (59, "pizza"),
    (60, "donut"), (61, "cake"), (62, "chair"), (63, "couch"), (64, "potted plant"), (65, "bed"),
    (67, "dining table"), (70, "toilet"), (72, "tv"), (73, "laptop"), (74, "mouse"), (75, "remote"),
    (76, "keyboard"), (77, "cell phone"), (78, "microwave"), (79, "oven"), (80, "toaster"), (81, "sink"),
    (82, "refrigerator"), (84, "book"), (85, "clock"), (86, "vase"), (87, "scissors"), (88, "teddy bear"),
    (89, "hair drier"), (90, "toothbrush"),
)
#: The COCO image set of each synthetic split.
SETS = {"train": "train2014", "val": "val2014"}
FIRST_ID = {"train": 1000, "val": 2000}


def category_of(class_index: int, categories=CATEGORIES) -> int:
    """The COCO category id of synthetic class class_index (1..20): the class's entry of categories, cyclically."""
    return categories[(class_index - 1) % len(categories)][0]


def category_value(category_id: int, categories=CATEGORIES) -> int:
    """The mask value of a fixture category: 1 + its rank among the ids in ascending order."""
    return sorted(c for c, _ in categories).index(category_id) + 1


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
                         max_objects: int = 3, crowd_every: int = 5, unannotated: int = 1,
                         categories=CATEGORIES) -> dict:
    """Write the dataset of the module docstring under root; return {split: number of annotated images}.

    categories: the (id, name) pairs the JSON lists, in that order (COCO2014_CATEGORIES: all of COCO's 80,
    of which the synthetic objects use the first 20 listed)."""
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
                    "category_id": category_of(obj.class_index, categories), "iscrowd": int(crowd), "segmentation": rle,
                    "area": float(mask_utils.area(encoded)), "bbox": [float(v) for v in mask_utils.toBbox(encoded)],
                })
        data = {"info": {"description": "synthetic COCO-layout fixture"}, "licenses": [], "images": images,
                "annotations": annotations,
                "categories": [{"id": c, "name": name, "supercategory": "synthetic"} for c, name in categories]}
        (root / "annotations" / f"instances_{SETS[split]}.json").write_text(json.dumps(data))
        counts[split] = n_images
    return counts

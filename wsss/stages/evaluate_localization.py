"""The evaluate_localization stage: WSOL metrics of an experiment's CAMs on a VOC-layout split.

Top-1 Cls, Top-1 Loc and GT-known Loc (boxes from the largest component above a fraction of each
map's maximum), MaxBoxAccV2 (all components, best CAM threshold, mean over IoU 0.3/0.5/0.7) and
mPxAP, per class and averaged, and PxAP pooled over every sample. Boxes come from Annotations/<id>.xml
(VOC's 1-based corners made 0-based, difficult objects included); pixels from the segmentation masks.
Class scores for Top-1 come from the classifier on the whole image at scale 1.

Protocols (config localization.protocol) for MaxBoxAccV2 and PxAP: "ours" scores the cache's
max-normalised maps at image resolution; "wsolevaluation" scores the cache's raw maps the way the
reference code does (wsss.metrics.wsol_protocol: 224 x 224 bicubic, min-max, quantised contours,
ground truth resized to 224). Top-1 and GT-known Loc use the max-normalised maps under both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.classes import CLASS_NAMES, IGNORE_INDEX
from ..data.layouts import is_wsol, open_layout
from ..data.transforms import to_tensor
from ..data.voc import load_image, load_mask, read_annotation
from ..data.wsol_layout import load_binary_mask
from ..errors import CacheError
from ..io.h5cache import CamCache
from ..metrics import wsol_protocol
from ..metrics.ground_truth import ground_truth_mask
from ..metrics.wsol import BoxAccumulator, ClassPxAPAccumulator, LocalizationAccumulator

#: Names of the WSOL evaluation protocols (config localization.protocol).
PROTOCOLS = ("ours", "wsolevaluation")


def boxes_by_class(objects) -> dict[int, np.ndarray]:
    """{class index 1..K: (M, 4) 0-based inclusive boxes} from read_annotation's objects."""
    boxes: dict[int, list] = {}
    for obj in objects:
        if obj["box"] is not None:
            x0, y0, x1, y1 = obj["box"]
            boxes.setdefault(obj["class"], []).append((x0 - 1, y0 - 1, x1 - 1, y1 - 1))
    return {c: np.asarray(b, dtype=np.int64) for c, b in boxes.items()}


@torch.inference_mode()
def class_scores(model, image: np.ndarray, device) -> np.ndarray:
    """(K,) logits of the classifier on one whole image."""
    x = to_tensor(image, model.backbone.mean, model.backbone.std)[None].to(device)
    return model(x)[0].float().cpu().numpy()


def voc_truth(layout, masks: str = "auto", class_names=CLASS_NAMES):
    """truth(image_id, keys, size) for VOC layout: (boxes of the labelled classes from the XML, class mask),
    or (None, None) when the image lacks its annotation or mask (not scored); masks: ground_truth_mask's;
    class_names: the dataset's, background first."""
    def truth(image_id, keys, size):
        mask_path = ground_truth_mask(layout, image_id, masks)
        if mask_path is None or not layout.annotation(image_id).is_file():
            return None, None
        boxes = boxes_by_class(read_annotation(layout.annotation(image_id), class_names))
        boxes = {c: b for c, b in boxes.items() if c in keys}  # classes of the image's label row
        if not boxes:
            return None, None
        return boxes, load_mask(mask_path, expected_size=size, num_classes=len(class_names) - 1)
    return truth


def wsol_truth(layout):
    """truth(image_id, keys, size) for a wsolevaluation split (one class per image): the boxes of
    localization.txt (CUB) and/or a mask built from its foreground and ignore PNGs (OpenImages), the
    foreground drawn with the image's class value and ignored pixels with 255: the ignore region minus
    the foreground (wsolevaluation evaluation.py:304-336)."""
    boxes, masks, ignores = layout.boxes(), layout.masks(), layout.ignore_masks()

    def truth(image_id, keys, size):
        (c,) = keys
        gt_boxes = {c: np.asarray(boxes[image_id], dtype=np.int64)} if image_id in boxes else None
        mask = None
        if image_id in masks:
            mask = np.zeros(size, dtype=np.uint8)
            for path in masks[image_id]:
                mask[load_binary_mask(path, size)] = c
            if image_id in ignores:
                mask[load_binary_mask(ignores[image_id], size) & (mask != c)] = IGNORE_INDEX
        return gt_boxes, mask
    return truth


def protocol_maps(entry, keys, cache_path) -> dict[int, np.ndarray]:
    """{class: (224, 224) score map} of wsolevaluation: each raw map resized bicubically, min-max normalised.
    A cache made without cams.keep_raw has no raw maps: a CacheError naming the file."""
    if "raw" not in entry:
        raise CacheError(f"{cache_path}: localization.protocol wsolevaluation scores the raw CAMs, which this "
                         "cache lacks: set cams.keep_raw: true and remake it")
    return {k: wsol_protocol.score_map(raw) for k, raw in zip(keys, entry["raw"])}


def evaluate_localization(model, cache_path, root, image_ids, *, split: str = "", box_fraction: float,
                          cam_thresholds, iou_thresholds, device, class_names=CLASS_NAMES, expect: dict | None = None,
                          protocol: str = "ours", masks: str = "auto", progress: bool = True):
    """(summary one-row table, per-class PxAP table) over the images that have ground truth.

    root: a VOC-layout folder (boxes from the XML, pixels from the class masks of `masks`, see
    ground_truth_mask; both needed) or a wsol root dict (boxes and/or masks of the split's
    localization.txt). Images in the cache without ground truth are not scored (counted). Metrics without
    ground truth (no boxes: the box metrics; no masks: PxAP) are NaN. Top-1 Cls counts over the scored
    samples. class_names[k] names mask value k. protocol: "ours" or "wsolevaluation" (module docstring).
    expect: attributes the cache must have (e.g. the split and the sha256 of `model`'s checkpoint).
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"localization protocol {protocol!r} is not one of {PROTOCOLS}")
    layout = open_layout(root, split)
    truth = wsol_truth(layout) if is_wsol(root) else voc_truth(layout, masks, class_names)
    reference = protocol == "wsolevaluation"
    top1 = LocalizationAccumulator(fraction=box_fraction)
    boxes_acc = BoxAccumulator(thresholds=cam_thresholds, iou_thresholds=iou_thresholds)
    pxap = ClassPxAPAccumulator(thresholds=wsol_protocol.pxap_thresholds(cam_thresholds) if reference
                                else cam_thresholds)
    scored = cls_count = cls_correct = 0
    with CamCache(cache_path, expect=expect) as cache:
        todo = [i for i in image_ids if i in cache]
        for image_id in tqdm(todo, desc="localization", disable=not progress, mininterval=5):
            entry = cache.read(image_id)
            keys = [int(k) for k in entry["keys"]]
            gt_boxes, mask = truth(image_id, keys, entry["size"])
            if gt_boxes is None and mask is None:
                continue
            cams = {k: np.asarray(m, dtype=np.float32) for k, m in zip(keys, entry["high_res"])}
            # scores[0] is class 1: prepend a never-chosen background so indices are mask values; a top-1
            # class outside the image's labels fails Top-1 Cls, so its (uncached) map is never needed
            scores = np.concatenate([[-np.inf], class_scores(model, load_image(layout.image(image_id)), device)])
            top1_class = int(np.argmax(scores))
            cls_count += len(keys)
            cls_correct += len(keys) * (top1_class in keys)
            maps = protocol_maps(entry, keys, cache_path) if reference else cams
            if gt_boxes:
                top1.add(scores, cams, gt_boxes)
                for c, b in gt_boxes.items():
                    if reference:
                        boxes_acc.add_box_sets(wsol_protocol.box_sets(maps[c], boxes_acc.thresholds),
                                               wsol_protocol.resize_boxes(b, entry["size"]))
                    else:
                        boxes_acc.add(maps[c], b)
            if mask is not None:
                if reference:
                    mask = wsol_protocol.resize_nearest(mask, (wsol_protocol.RESIZE_LENGTH,) * 2)
                pxap.add(np.stack([maps[k] for k in keys]), keys, mask)
            scored += 1
    loc, pixel = top1.compute(), pxap.compute()
    box = boxes_acc.compute()
    summary = pd.DataFrame([{
        "n_images": scored, "n_not_scored": len(image_ids) - scored, "n_samples": int(loc["count"]),
        "top1_cls": loc["top1_cls"] if loc["count"] else (100.0 * cls_correct / cls_count if cls_count else float("nan")),
        "top1_loc": loc["top1_loc"], "gt_known_loc": loc["gt_known_loc"],
        **{k: v for k, v in box.items() if k != "count"}, "mpxap": pixel["mpxap"], "pxap": pixel["pxap"],
    }])
    per_class = pd.DataFrame([{"class": class_names[c], "pxap": v} for c, v in pixel["per_class"].items()])
    return summary, per_class

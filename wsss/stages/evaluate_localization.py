"""The evaluate_localization stage: WSOL metrics of an experiment's CAMs on a VOC-layout split.

Top-1 Cls, Top-1 Loc and GT-known Loc (boxes from the largest component above a fraction of each
map's maximum), MaxBoxAccV2 (all components, best CAM threshold, mean over IoU 0.3/0.5/0.7) and
mPxAP, per class and averaged. Boxes come from Annotations/<id>.xml (VOC's 1-based corners made
0-based, difficult objects included); pixels from the segmentation masks. Class scores for Top-1
come from the classifier on the whole image at scale 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.classes import CLASS_NAMES
from ..data.transforms import to_tensor
from ..data.voc import VOCLayout, load_image, load_mask, read_annotation
from ..io.h5cache import CamCache
from ..metrics.wsol import BoxAccumulator, ClassPxAPAccumulator, LocalizationAccumulator


def boxes_by_class(objects) -> dict[int, np.ndarray]:
    """{class index 1..20: (M, 4) 0-based inclusive boxes} from read_annotation's objects."""
    boxes: dict[int, list] = {}
    for obj in objects:
        if obj["box"] is not None:
            x0, y0, x1, y1 = obj["box"]
            boxes.setdefault(obj["class"], []).append((x0 - 1, y0 - 1, x1 - 1, y1 - 1))
    return {c: np.asarray(b, dtype=np.int64) for c, b in boxes.items()}


@torch.inference_mode()
def class_scores(model, image: np.ndarray, device) -> np.ndarray:
    """(20,) logits of the classifier on one whole image."""
    x = to_tensor(image, model.backbone.mean, model.backbone.std)[None].to(device)
    return model(x)[0].float().cpu().numpy()


def evaluate_localization(model, cache_path, root, image_ids, *, box_fraction: float, cam_thresholds,
                          iou_thresholds, device, progress: bool = True):
    """(summary one-row table, per-class PxAP table) over the images with boxes and a mask.

    Images in the cache without an annotation file or a mask are not scored (counted).
    """
    layout = VOCLayout(root)
    top1 = LocalizationAccumulator(fraction=box_fraction)
    boxes_acc = BoxAccumulator(thresholds=cam_thresholds, iou_thresholds=iou_thresholds)
    pxap = ClassPxAPAccumulator(thresholds=cam_thresholds)
    scored = 0
    with CamCache(cache_path) as cache:
        todo = [i for i in image_ids if i in cache]
        for image_id in tqdm(todo, desc="localization", disable=not progress, mininterval=5):
            mask_path = layout.mask(image_id)
            if mask_path is None or not layout.annotation(image_id).is_file():
                continue
            entry = cache.read(image_id)
            keys = [int(k) for k in entry["keys"]]
            cams = {k: np.asarray(m, dtype=np.float32) for k, m in zip(keys, entry["high_res"])}
            gt_boxes = boxes_by_class(read_annotation(layout.annotation(image_id)))
            gt_boxes = {c: b for c, b in gt_boxes.items() if c in cams}  # classes of the image's label row
            if not gt_boxes:
                continue
            scores = class_scores(model, load_image(layout.image(image_id)), device)
            # scores[0] is class 1: prepend a never-chosen background so indices are mask values; a top-1
            # class outside the image's labels fails Top-1 Cls, so its (uncached) map is never needed
            top1.add(np.concatenate([[-np.inf], scores]), cams, gt_boxes)
            for c, b in gt_boxes.items():
                boxes_acc.add(cams[c], b)
            pxap.add(np.stack([cams[k] for k in keys]), keys, load_mask(mask_path, expected_size=entry["size"]))
            scored += 1
    loc, box, pixel = top1.compute(), boxes_acc.compute(), pxap.compute()
    summary = pd.DataFrame([{
        "n_images": scored, "n_not_scored": len(image_ids) - scored, "n_samples": int(loc["count"]),
        "top1_cls": loc["top1_cls"], "top1_loc": loc["top1_loc"], "gt_known_loc": loc["gt_known_loc"],
        **{k: v for k, v in box.items() if k != "count"}, "mpxap": pixel["mpxap"],
    }])
    per_class = pd.DataFrame([{"class": CLASS_NAMES[c], "pxap": v} for c, v in pixel["per_class"].items()])
    return summary, per_class


"""The segment_images stage: a trained segmenter's masks for a split (multi-scale + flip, optional dCRF)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.transforms import to_tensor
from ..data.voc import VOCLayout, load_image
from ..io.folders import finish_folder, partial_folder
from ..io.png import write_label_png
from ..refine.crf_workers import MaskWriter


@torch.inference_mode()
def segment_probabilities(model, image: np.ndarray, *, scales, flip: bool, device) -> np.ndarray:
    """(21, H, W) class probabilities averaged over scales (and flips)."""
    height, width = image.shape[:2]
    x = to_tensor(image, model.backbone.mean, model.backbone.std)[None].to(device)
    total = 0
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        xs = x if scale == 1.0 else F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        if flip:
            xs = torch.cat([xs, xs.flip(-1)])
        probs = F.softmax(model(xs), dim=1)
        if flip:
            probs = probs[:1] + probs[1:].flip(-1)
        total = total + F.interpolate(probs, size=(height, width), mode="bilinear", align_corners=False)[0]
    total = total / total.sum(0, keepdim=True)
    return total.float().cpu().numpy()


def write_segmentation(model, root, rows: pd.DataFrame, out_dir, *, scales, flip: bool, crf: dict | None,
                       device, provenance: dict | None = None, progress: bool = True, crf_workers: int = 0) -> dict:
    """'<out_dir>/<id>.png' label masks for every row; resumable.

    provenance: the record of this work (runtime.provenance_record); a partial folder made for
    another record (other settings, another segmenter) is emptied, not resumed. crf_workers:
    processes that run the dCRF (wsss.refine.crf_workers) while the segmenter goes on.
    """
    layout = VOCLayout(root)
    work = partial_folder(out_dir, provenance)
    todo = [i for i in rows["image_id"] if not (work / f"{i}.png").exists()]
    with MaskWriter(crf_workers) as masks:
        for image_id in tqdm(todo, desc="segment", disable=not progress, mininterval=5):
            image = load_image(layout.image(image_id))
            probs = segment_probabilities(model, image, scales=scales, flip=flip, device=device)
            if crf is None:
                write_label_png(work / f"{image_id}.png", probs.argmax(0).astype(np.uint8))
            else:
                masks.write(work / f"{image_id}.png", image, probs, crf, np.arange(len(probs)))
    finish_folder(out_dir)
    return {"images": len(rows), "resumed": len(rows) - len(todo)}

"""The make_cam_masks stage: pseudo masks straight from the CAMs, without the random walk.

Each pixel takes the argmax over a constant background score and the image's max-normalised class
maps (as the CAM mIoU is measured), optionally after a dense CRF on those scores normalised to
probabilities: the "no RW" rows of the refinement ablation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.layouts import open_layout
from ..data.voc import load_image
from ..io.folders import finish_folder, partial_folder
from ..io.h5cache import CamCache
from ..refine.crf_workers import MaskWriter
from ..refine.masks import write_mask


def cam_scores(high_res: np.ndarray, threshold: float) -> torch.Tensor:
    """(K+1, H, W) scores: the constant background plane, then the (K, H, W) class maps."""
    background = np.full((1, *high_res.shape[1:]), threshold, dtype=np.float32)
    return torch.from_numpy(np.concatenate([background, high_res.astype(np.float32)]))


def write_cam_masks(cam_path, root, rows: pd.DataFrame, mask_dir, *, threshold: float, crf: dict | None,
                    cam_expect: dict | None = None, provenance: dict | None = None, progress: bool = True,
                    crf_workers: int = 0) -> dict:
    """'<mask_dir>/<id>.png' for every row; resumable from a partial folder made with the same record.

    crf_workers: processes that run the dCRF (wsss.refine.crf_workers) while this one reads on.
    """
    layout = open_layout(root)
    cams = CamCache(cam_path, expect=cam_expect)  # refuse a wrong cache before touching any partial output
    work = partial_folder(mask_dir, provenance)
    with MaskWriter(crf_workers) as masks, cams:
        todo = [i for i in rows["image_id"] if not (work / f"{i}.png").exists()]
        for image_id in tqdm(todo, desc="cam masks", disable=not progress, mininterval=5):
            entry = cams.read(image_id)
            image = load_image(layout.image(image_id))
            write_mask(masks, work / f"{image_id}.png", image, cam_scores(entry["high_res"], threshold),
                       entry["keys"], crf)
    finish_folder(mask_dir)
    return {"images": len(rows), "resumed": len(rows) - len(todo)}

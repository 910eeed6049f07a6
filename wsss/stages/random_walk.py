"""The random_walk stage: CAMs propagated by AffinityNet affinities (PSA Sec. 3.4) into pseudo masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..data.transforms import to_tensor
from ..data.voc import VOCLayout, load_image
from ..io.folders import finish_folder, partial_folder
from ..io.h5cache import CamCache, CamCacheWriter
from ..methods.cam import background_score
from ..refine.crf_workers import MaskWriter
from ..refine.masks import write_mask
from ..refine.pairs import pair_affinities
from ..refine.random_walk import random_walk

RW_FORMAT = "wsss-random-walk"


@torch.inference_mode()
def refine_image(model, image: np.ndarray, high_res: np.ndarray, *, alpha_bg: float, radius: int, beta: float,
                 logt: int, device, pair_set: str = "all_in_image") -> torch.Tensor:
    """Random-walk refined scores (K+1, h, w) at the AffinityNet's stride: background first, then the CAMs.

    high_res: (K, H, W) max-normalised CAMs. The background (1 - max CAM)^alpha_bg is formed at
    image resolution; both are average-pooled to the feature grid before the walk, as in PSA
    (infer_aff.py:99, 110). pair_set: the walk's graph (wsss.refine.pairs.PAIR_SETS).
    """
    x = to_tensor(image, model.backbone.mean, model.backbone.std)[None].to(device)
    features = model(x)  # (1, 448, h, w)
    cams = torch.from_numpy(high_res).to(device)
    maps = torch.cat([background_score(cams, alpha_bg)[None], cams])  # (K+1, H, W)
    maps = F.adaptive_avg_pool2d(maps[None], features.shape[-2:])[0]
    edges = pair_affinities(features, radius, pair_set)[0]  # (P, h, w)
    return random_walk(maps, edges, radius, beta=beta, logt=logt, pair_set=pair_set)


def write_random_walk(model, cam_path, root, rows: pd.DataFrame, mask_dir, scores_path, *, attrs: dict,
                      alpha_bg: float, radius: int, beta: float, logt: int, crf: dict | None, device,
                      pair_set: str = "all_in_image", cam_expect: dict | None = None, provenance: dict | None = None,
                      progress: bool = True, crf_workers: int = 0) -> dict:
    """Pseudo masks '<mask_dir>/<id>.png' and refined scores in one HDF5 file; resumable.

    attrs: the scores file's attributes (its partial file is resumed only when they match, so they
    must hold every setting the output depends on, the CRF's included). cam_expect: attributes the
    CAM cache must have. provenance: the record of this work; a partial mask folder made for another
    record is emptied, not resumed. crf_workers: processes that run the dCRF while the walk goes on.
    """
    layout = VOCLayout(root)
    cams = CamCache(cam_path, expect=cam_expect)  # refuse a wrong cache before touching any partial output
    work = partial_folder(mask_dir, provenance)
    # the dCRF workers fork first, before any HDF5 file is open or torch has run
    with MaskWriter(crf_workers) as masks, cams, CamCacheWriter(scores_path, attrs, file_format=RW_FORMAT) as writer:
        done = writer.done()
        todo = [i for i in rows["image_id"] if not (i in done and (work / f"{i}.png").exists())]
        for image_id in tqdm(todo, desc="random walk", disable=not progress, mininterval=5):
            entry = cams.read(image_id)
            image = load_image(layout.image(image_id))
            scores = refine_image(model, image, entry["high_res"], alpha_bg=alpha_bg, radius=radius, beta=beta,
                                  logt=logt, device=device, pair_set=pair_set)
            write_mask(masks, work / f"{image_id}.png", image, scores, entry["keys"], crf)
            writer.add(image_id, np.concatenate([[0], entry["keys"]]), image.shape[:2],
                       scores=scores.float().cpu().numpy())
    finish_folder(mask_dir)
    return {"images": len(rows), "resumed": len(rows) - len(todo)}

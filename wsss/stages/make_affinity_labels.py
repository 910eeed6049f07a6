"""The make_affinity_labels stage: confident fg / bg / neutral labels from CAMs, one PNG per image."""

from __future__ import annotations

from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..data.voc import VOCLayout, load_image
from ..io.folders import finish_folder, partial_folder
from ..io.h5cache import CamCache
from ..io.png import write_label_png
from ..refine.affinity_labels import irn_affinity_labels, psa_affinity_labels

_WORKER = {}


def _init_worker(cache_path, root, method, params, crf):
    import torch

    torch.set_num_threads(1)
    _WORKER.update(cache=CamCache(cache_path), layout=VOCLayout(root), method=method, params=params, crf=crf)


def label_crf(method: str, crf: dict, irn_crf: dict) -> dict:
    """The CRF settings (a copy) a method's labels use: 'psa' the crf section, 'irn' affinity_labels.irn_crf.

    psa: PSA's dCRF on scores (psa tool/imutils.py:200-217); irn: IRN's label CRF (irn
    misc/imutils.py:156-170: bilateral sxy 50 / srgb 5 where PSA has 80 / 13).
    """
    if method == "psa":
        return dict(crf)
    if method == "irn":
        return dict(irn_crf)
    raise ValueError(f"unknown affinity label method {method!r} (expected 'psa' or 'irn')")


def affinity_labels_for(image: np.ndarray, cams: np.ndarray, keys: np.ndarray, method: str, params: dict,
                        crf: dict) -> np.ndarray:
    """(H, W) uint8 affinity labels by the configured method: 'psa' (low/high alpha) or 'irn' (thresholds).

    crf: the method's CRF settings (``label_crf``).
    """
    if method == "psa":
        return psa_affinity_labels(image, cams, keys, alpha_low=params["alpha_low"],
                                   alpha_high=params["alpha_high"], scores=params["crf_scores"], crf_kwargs=crf)
    if method == "irn":
        return irn_affinity_labels(image, cams, keys, fg_threshold=params["fg_threshold"],
                                   bg_threshold=params["bg_threshold"], crf_kwargs=crf)
    raise ValueError(f"unknown affinity label method {method!r} (expected 'psa' or 'irn')")


def _work(job):
    image_id, out_path = job
    entry = _WORKER["cache"].read(image_id)
    image = load_image(_WORKER["layout"].image(image_id))
    labels = affinity_labels_for(image, entry["high_res"], entry["keys"], _WORKER["method"], _WORKER["params"],
                                 _WORKER["crf"])
    write_label_png(out_path, labels)
    return image_id


def write_affinity_labels(cache_path, root, rows: pd.DataFrame, out_dir, *, method: str, params: dict, crf: dict,
                          threads: int = 1, expect: dict | None = None, provenance: dict | None = None,
                          progress: bool = True) -> dict:
    """Write '<out_dir>/<id>.png' for every row, `threads` CRF processes at once; resumable.

    expect: attributes the CAM cache must have (CamCache refuses another split or checkpoint's).
    provenance: the record of this work (runtime.provenance_record); a partial folder made for
    another record is emptied, not resumed, and the record is published in the folder.
    """
    CamCache(cache_path, expect=expect).close()  # refuse a wrong cache before any work (and before forking)
    work = partial_folder(out_dir, provenance)
    jobs = [(i, work / f"{i}.png") for i in rows["image_id"] if not (work / f"{i}.png").exists()]
    resumed = len(rows) - len(jobs)
    init = (str(cache_path), str(root), method, params, crf)
    bar = tqdm(total=len(rows), initial=resumed, desc="affinity labels", disable=not progress, mininterval=5)
    if threads > 1 and len(jobs) > 1:
        with get_context("fork").Pool(threads, initializer=_init_worker, initargs=init) as pool:  # no re-import of __main__
            for _ in pool.imap_unordered(_work, jobs, chunksize=4):
                bar.update()
    else:
        _init_worker(*init)
        for job in jobs:
            _work(job)
            bar.update()
        _WORKER.pop("cache").close()
    bar.close()
    finish_folder(out_dir)
    return {"images": len(rows), "resumed": resumed}

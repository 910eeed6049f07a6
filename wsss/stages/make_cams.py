"""The make_cams stage: CAMs of every image of a split into one resumable HDF5 cache."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..data.datasets import WholeImages
from ..data.transforms import to_tensor
from ..io.h5cache import CamCacheWriter
from ..methods.cam import image_cams


def same_size_batches(dataset, indices, batch_size: int):
    """Consecutive runs of at most batch_size images that share one size (so they stack)."""
    batch = []
    for index in indices:
        item = dataset[index]
        if batch and (len(batch) == batch_size or item["image"].shape != batch[0]["image"].shape):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def zero_map_keys(keys, high_res: np.ndarray) -> list[int]:
    """The labelled classes whose max-normalised map is zero everywhere (as stored, float16); high_res: (K, H, W)."""
    return [int(k) for k, m in zip(keys, np.asarray(high_res, dtype=np.float16)) if not np.any(m > 0)]


def write_cam_cache(model, root, rows: pd.DataFrame, path, *, attrs: dict, scales, flip: bool,
                    batch_size: int, device, attention: str = "cam", resize: str = "bilinear",
                    keep_raw: bool = False, progress: bool = True) -> dict:
    """Compute and store CAMs (low and image resolution) of each row's labelled classes.

    resize: the convention of wsss.methods.cam.RESIZES; keep_raw: also store each image's 'raw' maps
    (the multi-scale sum before ReLU and max-normalisation, at image resolution, float32).
    Resumes from a partial cache made with the same attributes. Returns counts, including the
    images whose CAM is all zero for some labelled class (counted, resumed images included, and
    stored as the file attribute n_empty_maps; max_normalise never divides by their zero peak).
    """
    dataset = WholeImages(root, rows)
    stride = model.backbone.output_stride
    mean, std = model.backbone.mean, model.backbone.std
    empty: dict[str, list[int]] = {}
    with CamCacheWriter(path, attrs) as writer:
        done = writer.done()
        todo = [i for i in range(len(dataset)) if rows.at[i, "image_id"] not in done]
        for image_id in rows["image_id"]:
            if image_id in done:
                entry = writer.read(image_id)
                zero = zero_map_keys(entry["keys"], entry["high_res"])
                if zero:
                    empty[image_id] = zero
        bar = tqdm(total=len(dataset), initial=len(dataset) - len(todo), desc="cams", disable=not progress,
                   mininterval=5)
        for batch in same_size_batches(dataset, todo, batch_size):
            images = torch.stack([to_tensor(item["image"], mean, std) for item in batch]).to(device)
            originals = [item["image"] for item in batch] if resize != "bilinear" else None
            for item, maps in zip(batch, image_cams(model, images, [b["keys"] for b in batch], scales=scales,
                                                    flip=flip, stride=stride, attention=attention, resize=resize,
                                                    originals=originals, keep_raw=keep_raw)):
                arrays = dict(zip(("cam", "high_res", "raw"), maps))
                zero = zero_map_keys(item["keys"], arrays["high_res"])
                if zero:
                    empty[item["image_id"]] = zero
                writer.add(item["image_id"], item["keys"], item["image"].shape[:2], **arrays)
            bar.update(len(batch))
        bar.close()
        n_empty = sum(len(v) for v in empty.values())
        writer.annotate(n_empty_maps=n_empty)
    return {"images": len(dataset), "resumed": len(dataset) - len(todo), "restarted": writer.restarted,
            "empty_maps": empty, "n_empty_maps": n_empty}

"""The make_cams stage: CAMs of every image of a split into one resumable HDF5 cache.

Images are grouped by size into full batches of batch_size, decoded by DataLoader workers, and written
by one background thread, so that the forward passes overlap decoding and gzip compression.

The batches are a function of the split's label table and batch_size alone: a shard job takes a
contiguous slice of them, and a resumed job recomputes each unfinished batch whole. On some CPUs a
kernel's float32 rounding depends on the batch it runs in (on an AVX2 machine one pixel of one CAM
moved by one float16 step when its batch of 8 was split into two of 4), so the same batches are what
make a sharded or resumed cache the same bits as the one-job cache.
"""

from __future__ import annotations

import itertools
import queue
import threading

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from ..data.datasets import WholeImages
from ..data.transforms import normalise
from ..data.voc import image_size
from ..errors import DatasetError
from ..io.h5cache import CamCacheWriter
from ..io.shards import shard_bounds
from ..methods.cam import image_cams

#: Batches of maps waiting for the writer thread: enough to keep it busy while the next batch is computed.
WRITE_QUEUE_BATCHES = 2


def size_grouped_batches(sizes, batch_size: int) -> list[list[int]]:
    """Positions 0..N-1 in batches of at most batch_size that share one size, so that they stack.

    sizes: (H, W) per position. Sizes are taken in increasing (H, W) order and each size's positions in
    their original order, so only a size's last batch can be short.
    """
    order = sorted(range(len(sizes)), key=lambda i: tuple(sizes[i]))  # stable: original order within a size
    batches = []
    for _, same in itertools.groupby(order, key=lambda i: tuple(sizes[i])):
        same = list(same)
        batches += [same[start:start + batch_size] for start in range(0, len(same), batch_size)]
    return batches


def image_sizes(images: WholeImages) -> list[tuple[int, int]]:
    """(H, W) of each image: the label table's height and width, else each file's header (not decoded)."""
    rows = images.rows
    if {"height", "width"} <= set(rows.columns):
        return [(int(h), int(w)) for h, w in zip(rows["height"], rows["width"])]
    return [image_size(images.layout.image(image_id)) for image_id in rows["image_id"]]


class SizedImages(Dataset):
    """WholeImages' items, each checked against the size its batch was grouped by."""

    def __init__(self, images: WholeImages, sizes):
        self.images, self.sizes = images, sizes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        item = self.images[index]
        if item["image"].shape[:2] != self.sizes[index]:
            height, width = item["image"].shape[:2]
            raise DatasetError(f"{self.images.layout.image(item['image_id'])}: image is {width}x{height} (WxH) but "
                               f"the label table says {self.sizes[index][1]}x{self.sizes[index][0]}; rebuild the "
                               "label table")
        return item


def stack_images(items) -> dict:
    """One batch of same-size images: {'image_ids', 'keys', 'pixels' (B, H, W, 3) uint8 tensor}."""
    return {"image_ids": [item["image_id"] for item in items], "keys": [item["keys"] for item in items],
            "pixels": torch.from_numpy(np.stack([item["image"] for item in items]))}


class BackgroundWrites:
    """write(batch) for each submitted batch, in order, on one background thread.

    At most `depth` batches wait, so a slow writer holds the producer back instead of filling memory.
    An exception in write is raised in the producer's thread, at its next submit or when the block
    ends; the batches after it are not written. Leaving the block waits for every submitted batch.
    """

    def __init__(self, write, depth: int = WRITE_QUEUE_BATCHES):
        self.write, self.queue, self.error = write, queue.Queue(maxsize=depth), None
        self.thread = threading.Thread(target=self._run, name="cam-cache-writer", daemon=True)

    def _run(self):
        while (batch := self.queue.get()) is not None:
            if self.error is None:  # after an error keep draining, so that submit never blocks for ever
                try:
                    self.write(batch)
                except BaseException as error:  # noqa: BLE001 - handed to the producer's thread
                    self.error = error

    def _raise(self):
        if self.error is not None:
            raise self.error

    def submit(self, batch) -> None:
        self._raise()
        self.queue.put(batch)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.queue.put(None)
        self.thread.join()
        if exc_type is None:
            self._raise()
        return False


def zero_map_keys(keys, high_res: np.ndarray) -> list[int]:
    """The labelled classes whose max-normalised map is zero everywhere (as stored, float16); high_res: (K, H, W)."""
    return [int(k) for k, m in zip(keys, np.asarray(high_res, dtype=np.float16)) if not np.any(m > 0)]


def write_cam_cache(model, root, rows: pd.DataFrame, path, *, attrs: dict, scales, flip: bool,
                    batch_size: int, device, attention: str = "cam", resize: str = "bilinear",
                    keep_raw: bool = False, num_workers: int = 0, progress: bool = True,
                    shard: tuple[int, int] = (0, 1)) -> dict:
    """Compute and store CAMs (low and image resolution) of each row's labelled classes.

    resize: the convention of wsss.methods.cam.RESIZES; keep_raw: also store each image's 'raw' maps
    (the multi-scale sum before ReLU and max-normalisation, at image resolution, float32);
    num_workers: DataLoader processes decoding the images (0: the calling thread decodes);
    shard: (k, K) computes only shard k of K contiguous near-equal slices of the rows' batches.
    Resumes from a partial cache made with the same attributes; an image counts as done once its
    maps are written (a batch with some undone images is recomputed whole, and only those are
    written), and the file is complete when this returns. Returns counts, including the
    images whose CAM is all zero for some labelled class (counted, resumed images included, and
    stored as the file attribute n_empty_maps; max_normalise never divides by their zero peak).
    """
    images = WholeImages(root, rows)
    all_ids = images.rows["image_id"].tolist()
    stride = model.backbone.output_stride
    mean, std = model.backbone.mean, model.backbone.std
    device = torch.device(device)
    sizes = image_sizes(images)
    batches = size_grouped_batches(sizes, batch_size)
    batches = batches[slice(*shard_bounds(len(batches), *shard))]
    ids = [all_ids[i] for i in sorted(i for batch in batches for i in batch)]  # this job's, in table order
    empty: dict[str, list[int]] = {}
    with CamCacheWriter(path, attrs) as writer:
        done = writer.done()
        todo = {i for batch in batches for i in batch if all_ids[i] not in done}
        for image_id in ids:
            if image_id in done:
                entry = writer.read(image_id)
                zero = zero_map_keys(entry["keys"], entry["high_res"])
                if zero:
                    empty[image_id] = zero
        batches = [batch for batch in batches if todo.intersection(batch)]
        loader = DataLoader(SizedImages(images, sizes), batch_sampler=batches, num_workers=num_workers,
                            collate_fn=stack_images, pin_memory=device.type == "cuda")
        bar = tqdm(total=len(ids), initial=len(ids) - len(todo), desc="cams", disable=not progress, mininterval=5)

        def store(batch):
            """Write one batch's maps (the writer thread): [(image_id, keys, (H, W), {name: array})]."""
            for image_id, keys, size, arrays in batch:
                zero = zero_map_keys(keys, arrays["high_res"])
                if zero:
                    empty[image_id] = zero
                writer.add(image_id, keys, size, **arrays)
                bar.update(1)

        loaded = iter(loader)  # forks the workers before the writer thread exists
        with BackgroundWrites(store) as writes:
            for batch in loaded:
                pixels = batch["pixels"]  # (B, H, W, 3) uint8
                planes = pixels.to(device, non_blocking=True).permute(0, 3, 1, 2).contiguous()  # (B, 3, H, W)
                inputs = normalise(planes, mean, std)
                originals = [image.numpy() for image in pixels] if resize != "bilinear" else None
                maps = image_cams(model, inputs, batch["keys"], scales=scales, flip=flip, stride=stride,
                                  attention=attention, resize=resize, originals=originals, keep_raw=keep_raw)
                writes.submit([(image_id, keys, tuple(pixels.shape[1:3]), dict(zip(("cam", "high_res", "raw"), m)))
                               for image_id, keys, m in zip(batch["image_ids"], batch["keys"], maps)
                               if image_id not in done])
        bar.close()
        empty = {image_id: empty[image_id] for image_id in ids if image_id in empty}  # in table order
        n_empty = sum(len(v) for v in empty.values())
        writer.annotate(n_empty_maps=n_empty)
    return {"images": len(ids), "resumed": len(ids) - len(todo), "restarted": writer.restarted,
            "empty_maps": empty, "n_empty_maps": n_empty}

"""Label PNGs after the dCRF, with the dCRF in worker processes so that the job feeding them goes on.

The dCRF takes 0.3-0.6 s per VOC image on one core. Inline, a GPU job that feeds it (random walk,
segmentation, CAM masks) waits for every image. A MaskWriter with workers > 0 hands each image to a
process pool and keeps at most a few images per worker in flight; the stage's own work (the walk,
the segmenter's forward pass) runs meanwhile. Each image's dCRF is independent of the others, so the
masks are the same bits as inline. Each PNG is written atomically, so a killed job leaves only
finished masks, and its rerun redoes the rest.
"""

from __future__ import annotations

from multiprocessing import get_context

import numpy as np

from ..io.png import write_label_png
from .crf import crf_inference

#: images in flight per worker before write() waits for the oldest one
BACKLOG_PER_WORKER = 4


def crf_workers(threads: int, crf: dict | None) -> int:
    """How many of a job's threads go to dCRF processes: all but one when the stage runs the dCRF
    (the job's own torch work keeps one), none otherwise."""
    return max(threads - 1, 0) if crf is not None else 0


def crf_mask(image: np.ndarray, probs: np.ndarray, crf: dict, values: np.ndarray) -> np.ndarray:
    """(H, W) uint8 labels: values[argmax of the dCRF marginals of (C, H, W) probabilities]."""
    return np.asarray(values, dtype=np.uint8)[crf_inference(image, probs, **crf).argmax(0)]


def _write_crf_mask(path, image, probs, crf, values) -> None:
    write_label_png(path, crf_mask(image, probs, crf, values))


class MaskWriter:
    """Writes dCRF label PNGs, inline (workers 0) or in `workers` forked processes.

    Use as a context manager: leaving it waits for every mask (and raises a worker's error); an
    exception inside it stops the workers without waiting. Fork, not spawn: a spawned worker would
    re-import the Snakemake script that runs the stage.
    """

    def __init__(self, workers: int = 0) -> None:
        self.workers, self.pool, self.pending = workers, None, []

    def __enter__(self) -> MaskWriter:
        if self.workers > 0:
            self.pool = get_context("fork").Pool(self.workers)
        return self

    def write(self, path, image: np.ndarray, probs: np.ndarray, crf: dict, values) -> None:
        """The mask of one image: values[argmax(dCRF(probs))] as a palette PNG at path."""
        if self.pool is None:
            _write_crf_mask(path, image, probs, crf, values)
            return
        while len(self.pending) >= BACKLOG_PER_WORKER * self.workers:
            self.pending.pop(0).get()
        self.pending.append(self.pool.apply_async(_write_crf_mask, (path, image, probs, crf, values)))

    def __exit__(self, exc_type, exc, tb):
        if self.pool is None:
            return False
        finished = exc_type is None
        try:
            if finished:
                for result in self.pending:
                    result.get()
        except BaseException:
            finished = False
            raise
        finally:
            self.pool.close() if finished else self.pool.terminate()
            self.pool.join()
        return False

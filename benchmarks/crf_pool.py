"""The dCRF's mask writer with 2 worker processes against 1, on VOC-sized images.

    .venv/bin/python benchmarks/crf_pool.py [--images 8] [--repeats 3]

Each run writes the label PNGs of `--images` synthetic 375 x 500 images with 21-class probabilities
through wsss.refine.crf_workers.MaskWriter (PSA's dCRF settings, 10 iterations), once with 1 worker
and once with 2, alternating; the medians are printed and the last line is
`crf_pool speedup=... workers_1_s=... workers_2_s=... images=...` (speedup = 1-worker median / 2-worker
median; it needs two free cores to approach 2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from wsss.refine.crf_workers import MaskWriter

CRF = dict(n_iters=10, gauss_sxy=3, gauss_compat=3, bilateral_sxy=80, bilateral_srgb=13, bilateral_compat=10)


def inputs(n: int, height: int = 375, width: int = 500):
    """n (image, probabilities) pairs: smooth class blobs over a noisy image, fixed by the seed."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(n):
        image = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        logits = np.stack([np.sin(xx / rng.uniform(20, 80) + rng.uniform(0, 6))
                           * np.cos(yy / rng.uniform(20, 80) + rng.uniform(0, 6)) for _ in range(21)])
        probs = np.exp(3 * logits).astype(np.float32)
        yield image, probs / probs.sum(0, keepdims=True)


def run(workers: int, pairs, out: Path) -> float:
    start = time.perf_counter()
    with MaskWriter(workers) as masks:
        for k, (image, probs) in enumerate(pairs):
            masks.write(out / f"{k}.png", image, probs, CRF, np.arange(21))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    pairs = list(inputs(args.images))
    times = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for workers in times:
                times[workers].append(run(workers, pairs, Path(folder) / str(workers)))
    median = {workers: statistics.median(values) for workers, values in times.items()}
    speedup = median[1] / median[2]
    print(f"1 worker {median[1]:.2f} s, 2 workers {median[2]:.2f} s for {args.images} images "
          f"(median of {args.repeats}); load average {os.getloadavg()[0]:.2f}")
    print(f"crf_pool speedup={speedup:.2f} workers_1_s={median[1]:.2f} workers_2_s={median[2]:.2f} "
          f"images={args.images}")


if __name__ == "__main__":
    main()

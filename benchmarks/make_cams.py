"""make_cams per image against the bare forward passes it cannot avoid.

    .venv/bin/python benchmarks/make_cams.py [--threads 2] [--repeats 3] [--num-workers 0] [--voc-images 20]
        [--settings smallnet mobilenet]

Two settings: the embedded default's (smallnet, output stride 8, 64 images of 128 x 128) and VOC-like
(mobilenet_v2 from random init, output stride 16 as in the VOC configs, --voc-images images of
375 x 500, 500 x 375 and 333 x 500 in table order). Both use config.yaml's cams: scales
[1.0, 0.5, 1.5, 2.0], flip, batch_size 8.

The variant is wsss.stages.make_cams.write_cam_cache from JPEG files to a finished HDF5 cache:
decoding, normalisation, forward passes, CAM resizing and max-normalisation, gzip writes. The
baseline is only the network's class maps (Classifier.class_maps) on every scaled input with its
flipped copy in the same batch, the inputs made beforehand, in the same size-grouped batches.
Runs alternate (a warm-up of each first), so both see the same machine load; the medians per image
are printed, and the last line is `make_cams ratio_smallnet=... ratio_mobilenet=... ...` with
ratio = variant median / baseline median (the target is <= 1.3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from wsss.data.classes import VOC_CLASSES
from wsss.data.transforms import to_tensor
from wsss.methods.cam import scaled_inputs
from wsss.models.classifier import build_classifier
from wsss.stages.make_cams import size_grouped_batches, write_cam_cache

SCALES, FLIP, BATCH_SIZE = [1.0, 0.5, 1.5, 2.0], True, 8
SMALLNET_IMAGES = 64  # 8 full batches: the per-file costs and the last batch's write spread as over a split
SETTINGS = {"smallnet": ("smallnet", 8, [(128, 128)]),  # (backbone, output stride, image sizes)
            "mobilenet": ("mobilenet_v2", 16, [(375, 500), (500, 375), (375, 500), (333, 500)])}


def write_images(root: Path, sizes, n: int) -> pd.DataFrame:
    """n smooth random JPEGs (upsampled noise, so that they compress like photos) and their label rows."""
    rng = np.random.default_rng(0)
    (root / "JPEGImages").mkdir(parents=True)
    records = []
    for k in range(n):
        height, width = sizes[k % len(sizes)]
        coarse = rng.integers(0, 256, (max(1, height // 16), max(1, width // 16), 3), dtype=np.uint8)
        Image.fromarray(coarse).resize((width, height), Image.BICUBIC).save(root / "JPEGImages" / f"{k:04d}.jpg",
                                                                             quality=90)
        classes = set(rng.choice(VOC_CLASSES, size=int(rng.integers(1, 4)), replace=False))
        records.append({"split": "train", "image_id": f"{k:04d}", "height": height, "width": width,
                        "label_source": "xml", "has_mask": False,
                        **{name: int(name in classes) for name in VOC_CLASSES}})
    return pd.DataFrame(records)


def forward_inputs(model, root: Path, rows: pd.DataFrame) -> list[torch.Tensor]:
    """Every network input of make_cams's batches: each scale of each batch, with its flipped copy."""
    mean, std = model.backbone.mean, model.backbone.std
    images = [to_tensor(np.asarray(Image.open(root / "JPEGImages" / f"{i}.jpg").convert("RGB")), mean, std)
              for i in rows["image_id"]]
    inputs = []
    for batch in size_grouped_batches(list(zip(rows["height"], rows["width"])), BATCH_SIZE):
        for x in scaled_inputs(torch.stack([images[i] for i in batch]), SCALES):
            inputs.append(torch.cat([x, x.flip(-1)]) if FLIP else x)
    return inputs


def bare_forward(model, inputs) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for x in inputs:
            model.class_maps(x)
    return time.perf_counter() - start


def cam_cache(model, root: Path, rows: pd.DataFrame, out: Path, num_workers: int) -> float:
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    write_cam_cache(model, root, rows, out, attrs={"split": "train"}, scales=SCALES, flip=FLIP, batch_size=BATCH_SIZE,
                    device="cpu", num_workers=num_workers, progress=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--num-workers", type=int, default=0, help="cams.num_workers of the variant")
    parser.add_argument("--voc-images", type=int, default=20, help="images of the VOC-like setting")
    parser.add_argument("--settings", nargs="+", choices=sorted(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    torch.set_num_threads(max(1, args.threads - args.num_workers))
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name in args.settings:
            backbone, output_stride, sizes = SETTINGS[name]
            n = SMALLNET_IMAGES if name == "smallnet" else args.voc_images
            root = Path(folder) / name
            rows = write_images(root, sizes, n)
            torch.manual_seed(0)
            model = build_classifier(backbone, pretrained=False, output_stride=output_stride, num_classes=20).eval()
            inputs = forward_inputs(model, root, rows)
            times = {"forward": [], "write_cam_cache": []}
            for repeat in range(args.repeats + 1):  # the first round warms up and is not counted
                forward = bare_forward(model, inputs)
                cache = cam_cache(model, root, rows, Path(folder) / f"{name}.h5", args.num_workers)
                if repeat:
                    times["forward"].append(forward / n)
                    times["write_cam_cache"].append(cache / n)
            median = {key: statistics.median(values) for key, values in times.items()}
            results[name] = (median["write_cam_cache"] / median["forward"], median)
            print(f"{name}: {n} images, forward {median['forward'] * 1e3:.1f} ms/image, write_cam_cache "
                  f"{median['write_cam_cache'] * 1e3:.1f} ms/image, ratio {results[name][0]:.2f} "
                  f"(median of {args.repeats})")
    print(f"threads {args.threads}, num_workers {args.num_workers}, load average {os.getloadavg()[0]:.2f}")
    print("make_cams " + " ".join(f"ratio_{name}={ratio:.2f}" for name, (ratio, _) in results.items()) + " "
          + " ".join(f"{name}_ms={median['write_cam_cache'] * 1e3:.1f} {name}_forward_ms={median['forward'] * 1e3:.1f}"
                     for name, (_, median) in results.items())
          + f" threads={args.threads} num_workers={args.num_workers}")


if __name__ == "__main__":
    main()

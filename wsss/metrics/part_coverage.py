"""How partial are the CAMs? Their coverage of the discriminative part vs the rest of the body.

Only for the synthetic dataset, whose generator can redraw every object's part and body masks:
for each labelled object, the share of its visible part pixels and of its visible non-part body
pixels where the CAM of its class is at least a threshold. A CAM that "covers only the most
discriminative part" has high part coverage and low body coverage.

    python -m wsss.metrics.part_coverage results/synthetic/cam/seed0/cams/val.h5 [--threshold 0.3]
"""

from __future__ import annotations

import argparse

import numpy as np

from ..data.synthetic import generate_image
from ..io.h5cache import CamCache


def part_body_coverage(cam: np.ndarray, part: np.ndarray, body: np.ndarray, threshold: float):
    """(covered part pixels, part pixels, covered body pixels, body pixels) of one object's map."""
    on = cam >= threshold
    return int((on & part).sum()), int(part.sum()), int((on & body).sum()), int(body.sum())


def cache_coverage(cache_path, threshold: float, *, seed: int = 0, image_size: int = 128,
                   max_objects: int = 3, context_prob: float = 0.7, body_cue: float = 0.8) -> dict:
    """Pooled part and body coverage (%) of a synthetic split's CAM cache (generator args must match)."""
    totals = np.zeros(4, dtype=np.int64)
    with CamCache(cache_path) as cache:
        for image_id in cache.ids():
            split, index = image_id.rsplit("_", 1)
            sample = generate_image(seed, split, int(index), image_size=image_size, max_objects=max_objects,
                                    context_prob=context_prob, body_cue=body_cue)
            entry = cache.read(image_id)
            maps = dict(zip((int(k) for k in entry["keys"]), np.asarray(entry["high_res"], np.float32)))
            void = sample.labels == 255
            for obj in sample.objects:
                mine = obj.visible & ~void
                totals += part_body_coverage(maps[obj.class_index], obj.part & mine, obj.body & ~obj.part & mine,
                                             threshold)
    return {"part_coverage": 100 * totals[0] / max(totals[1], 1), "body_coverage": 100 * totals[2] / max(totals[3], 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cache")
    parser.add_argument("--threshold", type=float, default=0.3)
    args = parser.parse_args(argv)
    result = cache_coverage(args.cache, args.threshold)
    print(f"part_coverage threshold={args.threshold} " + " ".join(f"{k}={v:.1f}" for k, v in result.items()))


if __name__ == "__main__":
    main()

"""AffinityNet's training step with PairDistances' backward against autograd's through P slices.

    .venv/bin/python benchmarks/affinity_step.py [--threads 2] [--repeats 15] [--crop 64] [--radius 5]

The embedded default's AffinityNet step (smallnet, stride 4, batch 8, 64-px crops, radius 5:
34 offsets, channels_last, Adam): forward, pair labels, the affinity loss, backward and the step.
The variant is wsss.refine.pairs.pair_affinities (PairDistances, one padded gradient for all
offsets); the baseline computes the same affinities with autograd through each offset's slice of
the padded map. Both networks start from the same seed and their steps alternate (warm-up first),
so both see the same machine load. The last line is `affinity_step speedup=... ours_ms=...
autograd_ms=... threads=...` with speedup = baseline median / variant median (target >= 1.2).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from wsss.models.affinitynet import build_affinitynet
from wsss.refine.pairs import affinity_loss, offset_distances, pair_affinities, pair_labels, pair_valid
from wsss.training.affinitynet import labels_at


def autograd_affinities(features: torch.Tensor, radius: int) -> torch.Tensor:
    """The affinities of pair_affinities, through autograd's slice backward (one zeroed padded gradient each)."""
    return torch.exp(-offset_distances(features, radius)) * pair_valid(*features.shape[-2:], radius).to(features.dtype)


def make_step(affinities, batch, radius: int):
    torch.manual_seed(0)
    model = build_affinitynet("smallnet", output_stride=8).to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    images, labels = batch

    def step() -> float:
        start = time.perf_counter()
        optimizer.zero_grad()
        features = model(images)
        fg, bg, neg = pair_labels(labels_at(labels, features.shape[-2:]), radius)
        loss, _ = affinity_loss(affinities(features, radius), fg, bg, neg)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--radius", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn((8, 3, args.crop, args.crop), generator=generator).to(memory_format=torch.channels_last)
    labels = torch.randint(0, 3, (8, args.crop, args.crop), generator=generator)
    labels[:, : args.crop // 8] = 255  # a neutral band, as dCRF'd affinity labels have
    ours = make_step(pair_affinities, (images, labels), args.radius)
    baseline = make_step(autograd_affinities, (images, labels), args.radius)
    for _ in range(3):
        ours(), baseline()
    times = {"ours": [], "autograd": []}
    for _ in range(args.repeats):
        times["ours"].append(ours())
        times["autograd"].append(baseline())
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    print(f"AffinityNet step, batch 8, {args.crop} px, radius {args.radius}: PairDistances "
          f"{medians['ours']:.1f} ms, autograd slices {medians['autograd']:.1f} ms (median of {args.repeats}); "
          f"threads {args.threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"affinity_step speedup={medians['autograd'] / medians['ours']:.2f} ours_ms={medians['ours']:.1f} "
          f"autograd_ms={medians['autograd']:.1f} threads={args.threads}")


if __name__ == "__main__":
    main()

"""Benchmark: sparse PSA random walk vs the dense (hw x hw) formulation on a VOC-sized graph.

Graph: 63 x 47 nodes (a ~500 x 375 VOC image at stride 8), radius 5, beta 8, logt 8 (t = 256),
21 maps (background + 20 classes), float32, torch.set_num_threads(threads).

Affinities come from synthetic AffinityNet-like features: a few object regions with their own
random 64-d embedding plus small per-pixel noise, so pairs inside a region have W ~ 0.9-1 and pairs
across a boundary W ~ 0.3 (W^8 ~ 1e-4), like trained AffinityNet outputs.

Time: median wall time of ``--repeats`` sparse and ``--dense-repeats`` dense calls of each full
function (matrix construction included), after warm-up; the calls are interleaved so that
background load hits both alike. The load average is printed: when other processes compete for
the 2 cores, the sparse walk's 256 short 2-thread OpenMP products slow down far more (up to 50x)
than the dense product, so a fair reading needs an otherwise idle machine.

Peak memory: torch's CPU allocator has no cache (tensors are malloc'd and freed directly) and its
allocations are invisible to tracemalloc, so each method runs once in a fresh subprocess with
MALLOC_MMAP_THRESHOLD_=65536 (every block >= 64 KiB is its own mmap, returned to the OS on free,
so resident memory follows live tensors and freed pages are never silently reused). After the
inputs are built and a warm-up on a tiny graph has loaded the kernels, the process resets its
peak RSS (writing 5 to /proc/self/clear_refs) and reports VmHWM - VmRSS around one call: the
peak extra resident memory of the call.

Last line: ``random_walk speedup_vs_dense=<x> peak_mem_ratio=<y> max_abs_diff=<z>``.
Run: .venv/bin/python benchmarks/random_walk.py [--repeats 7] [--dense-repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsss.refine.pairs import pair_affinities  # noqa: E402
from wsss.refine.random_walk import dense_random_walk, random_walk  # noqa: E402

HEIGHT, WIDTH = 63, 47
N_MAPS = 21
RADIUS, BETA, LOGT = 5, 8, 8
METHODS = {"sparse": random_walk, "dense": dense_random_walk}


def synthetic_inputs(seed: int, height: int = HEIGHT, width: int = WIDTH):
    """(maps (21, h, w), edge_affinity (P, h, w)) from region-wise random features, float32."""
    gen = torch.Generator().manual_seed(seed)
    ys = torch.arange(height, dtype=torch.float32)[:, None]
    xs = torch.arange(width, dtype=torch.float32)[None, :]
    regions = torch.zeros((height, width), dtype=torch.long)
    for index in range(1, 5):  # four elliptic "objects" over a background region
        cy, cx = torch.rand(2, generator=gen) * torch.tensor([height, width])
        ry, rx = 4 + torch.rand(2, generator=gen) * torch.tensor([height / 3, width / 3])
        regions[((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 < 1] = index
    embedding = torch.randn((5, 64), generator=gen)  # (regions, C)
    features = embedding[regions].permute(2, 0, 1)  # (C, h, w)
    features = features + 0.05 * torch.randn(features.shape, generator=gen)
    edge = pair_affinities(features[None], RADIUS)[0]
    maps = torch.rand((N_MAPS, height, width), generator=gen)
    return maps, edge


def _memory_kib() -> dict[str, int]:
    """VmRSS and VmHWM of this process, KiB."""
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def measure_memory_child(method: str, seed: int, threads: int) -> None:
    """Subprocess body: print JSON with the peak extra resident memory (bytes) of one call."""
    torch.set_num_threads(threads)
    run = METHODS[method]
    small_maps, small_edge = synthetic_inputs(seed, 8, 9)
    run(small_maps, small_edge, RADIUS, beta=BETA, logt=2)  # load kernels / thread pools
    maps, edge = synthetic_inputs(seed)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # reset VmHWM to the current RSS
    before = _memory_kib()["VmRSS"]
    result = run(maps, edge, RADIUS, beta=BETA, logt=LOGT)
    peak = _memory_kib()["VmHWM"]
    del result
    print(json.dumps({"method": method, "peak_extra_bytes": (peak - before) * 1024}))


def peak_memory(method: str, seed: int, threads: int) -> int:
    """Peak extra resident bytes of one call of ``method``, measured in a fresh subprocess."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, __file__, "--memory-child", method, "--seed", str(seed), "--threads", str(threads)]
    done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["peak_extra_bytes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed sparse calls (median reported)")
    parser.add_argument("--dense-repeats", type=int, default=3, help="timed dense calls (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-child", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        measure_memory_child(args.memory_child, args.seed, args.threads)
        return

    torch.set_num_threads(args.threads)
    maps, edge = synthetic_inputs(args.seed)
    print(f"graph {HEIGHT}x{WIDTH} nodes, {N_MAPS} maps, radius {RADIUS}, beta {BETA}, logt {LOGT}, "
          f"threads {args.threads}, load average {os.getloadavg()[0]:.2f}")
    print(f"edge affinity: {edge.shape[0]} offsets, mean {edge[edge > 0].mean():.3f}, "
          f"fraction < 0.5: {(edge[edge > 0] < 0.5).float().mean():.3f}")

    # Warm-up: one sparse call at full size, one dense call on a small graph (BLAS start-up).
    small_maps, small_edge = synthetic_inputs(args.seed, 8, 9)
    dense_random_walk(small_maps, small_edge, RADIUS, beta=BETA, logt=LOGT)
    random_walk(maps, edge, RADIUS, beta=BETA, logt=LOGT)
    repeats = {"sparse": args.repeats, "dense": args.dense_repeats}
    times = {name: [] for name in METHODS}
    results = {}
    for index in range(max(repeats.values())):  # interleaved
        for name, run in METHODS.items():
            if index < repeats[name]:
                start = time.perf_counter()
                results[name] = run(maps, edge, RADIUS, beta=BETA, logt=LOGT)
                times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    for name in METHODS:
        print(f"{name:6s} median {median[name] * 1e3:9.1f} ms  (all: "
              + ", ".join(f"{t * 1e3:.1f}" for t in times[name]) + ")")

    # float64 reference: the sparse walk in float64 (equal to the dense float64 walk to ~1e-14).
    exact = random_walk(maps.double(), edge.double(), RADIUS, beta=BETA, logt=LOGT)
    diff = (results["sparse"] - results["dense"]).abs().max().item()
    print(f"max |sparse - dense| {diff:.3g}; vs float64 reference: sparse "
          f"{(results['sparse'].double() - exact).abs().max().item():.3g}, dense "
          f"{(results['dense'].double() - exact).abs().max().item():.3g}")

    memory = {name: peak_memory(name, args.seed, args.threads) for name in METHODS}
    for name in METHODS:
        print(f"{name:6s} peak extra resident memory {memory[name] / 2**20:8.2f} MiB")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(f"random_walk speedup_vs_dense={median['dense'] / median['sparse']:.1f} "
          f"peak_mem_ratio={memory['sparse'] / memory['dense']:.4f} max_abs_diff={diff:.3g}")


if __name__ == "__main__":
    main()

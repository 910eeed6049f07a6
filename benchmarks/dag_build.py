"""Benchmark: how long Snakemake takes to build the DAG of a full-size VOC train_aug run.

A VOC-layout tree holding only split lists (10,582 train_aug ids and 1,449 val ids, synthetic
names; a dry run needs no images) is written to a temporary folder; `snakemake -n` of the default
target with configs/voc12_psa.yaml is timed, median of --repeats runs. The baseline in the same run
is the same dry run on a 100-id train list: the ratio shows how DAG building scales with the number
of images. The per-image stages run as --shards jobs per split (config `shards`, default 16 here: a
10k-image split spread over many cluster jobs); the job count follows the shards, not the images.

Last line: ``dag_build seconds=<median s> jobs=<n> baseline_seconds=<s> ratio=<x>``; the target is
seconds < 10.
Run: .venv/bin/python benchmarks/dag_build.py [--repeats 3] [--train-ids 10582] [--shards 16]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


def voc_lists(root: Path, n_train: int, n_val: int) -> None:
    """Split lists of synthetic ids in the VOC layout (2007_000000 style)."""
    lists = root / "ImageSets" / "Segmentation"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "train_aug.txt").write_text("".join(f"2011_{i:06d}\n" for i in range(n_train)))
    (lists / "val.txt").write_text("".join(f"2012_{i:06d}\n" for i in range(n_val)))


def dry_run(folder: Path, root: Path, shards: int) -> tuple[float, int]:
    """(seconds, number of jobs) of one `snakemake -n` of the default target."""
    folder.mkdir(parents=True, exist_ok=True)
    override = folder / "override.yaml"
    override.write_text(yaml.safe_dump({"dataset": {"root": str(root)}, "shards": shards}))
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(folder), "--cores", "8", "-n",
               "--quiet", "rules", "--configfile", str(REPO / "configs" / "voc12_psa.yaml"), str(override)]
    start = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    total = re.search(r"^total\s+(\d+)$", out.stdout + out.stderr, flags=re.M)
    return seconds, int(total.group(1)) if total else 0


def median_run(n_train: int, n_val: int, repeats: int, shards: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        voc_lists(tmp / "VOC2012", n_train, n_val)
        runs = [dry_run(tmp / "work", tmp / "VOC2012", shards) for _ in range(repeats)]
    return statistics.median(s for s, _ in runs), runs[0][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-ids", type=int, default=10582)
    parser.add_argument("--val-ids", type=int, default=1449)
    parser.add_argument("--shards", type=int, default=16)
    args = parser.parse_args()
    baseline, baseline_jobs = median_run(100, 100, args.repeats, args.shards)
    seconds, jobs = median_run(args.train_ids, args.val_ids, args.repeats, args.shards)
    print(f"100 train ids: {baseline:.2f} s, {baseline_jobs} jobs; {args.train_ids} train ids: {seconds:.2f} s, {jobs} jobs")
    print(f"dag_build seconds={seconds:.2f} jobs={jobs} baseline_seconds={baseline:.2f} ratio={seconds / baseline:.2f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env bash
# The VOC sample's CAM, affinity-label and random-walk stages on a CUDA GPU, fp32 against bf16.
#
#   benchmarks/gpu_check.sh [--dry-run] [OUT_DIR]        (OUT_DIR: results/gpu_check)
#
# configs/voc_mini.yaml (the real 421-image VOC sample, ../shared/data/voc2012_mini) with ResNet-50
# from random init (pretrained: false) and one epoch per network, experiment `cam`, seed 0, run twice
# into OUT_DIR/fp32 and OUT_DIR/bf16: the second with `precision: bf16` for the classifier and
# AffinityNet (CAMs and the walk are fp32 inference either way). Each run is Snakemake on the targets
# of one experiment up to the random walk (--forceall: every job runs, whatever is already there),
# one GPU job at a time. Per stage it prints images/s (the split's labelled images, times the epochs
# for training, over the `s` column of the rule's benchmark TSV) and the peak GPU memory the job
# logged (peak_gpu_memory_mb, wsss.runtime.log_peak_gpu_memory); the last line is
# `gpu_check key=value ...`. Both runs together must end within GPU_CHECK_SECONDS (480).
#
# Without a CUDA GPU it stops at once with one line. --dry-run needs none: the same Snakemake
# commands with -n, printing the jobs each run would execute; its last line is
# `gpu_check dry_run=1 fp32_jobs=N bf16_jobs=N`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

dry_run=0
if [ "${1:-}" = "--dry-run" ]; then
    dry_run=1
    shift
fi
[ $# -le 1 ] || { echo "usage: $0 [--dry-run] [OUT_DIR]" >&2; exit 2; }
python=${PYTHON:-$repo/.venv/bin/python}
[ -x "$python" ] || python=python3
snakemake=("$python" -m snakemake)
limit=${GPU_CHECK_SECONDS:-480}
deadline=$((SECONDS + limit))

if [ "$dry_run" = 0 ] && ! "$python" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then
    echo "gpu_check: no CUDA GPU here (torch.cuda.is_available() is False for $python); --dry-run shows the jobs" >&2
    exit 1
fi
root=$("$python" -c "import yaml; print(yaml.safe_load(open('configs/voc_mini.yaml'))['dataset']['root'])")
if [ ! -d "$root/JPEGImages" ]; then
    echo "gpu_check: no VOC sample at $root (configs/voc_mini.yaml dataset.root)" >&2
    exit 1
fi
mkdir -p "${1:-results/gpu_check}"
out=$(cd "${1:-results/gpu_check}" && pwd)

cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)   # nproc counts OMP_NUM_THREADS otherwise
threads=$((cores < 8 ? cores : 8))   # per job: GPU jobs run one at a time
workers=$((threads / 2))             # image-decoding processes, counted in the threads
experiment=voc2012_mini/cam/seed0   # under a run's results folder

run() {  # run PRECISION: one Snakemake run into OUT_DIR/PRECISION
    local precision=$1 folder=$out/$1
    mkdir -p "$folder"
    cat > "$folder/gpu_check.yaml" <<CONFIG
# written by benchmarks/gpu_check.sh: overrides of configs/voc_mini.yaml
results: $folder/results
run_experiments: [cam]
seeds: [0]
device: cuda
allow_cpu_fallback: false
classifier: {backbone: resnet50, pretrained: false, epochs: 1, precision: $precision,
             threads: $threads, num_workers: $workers}
cams: {threads: $threads, num_workers: $workers}
affinity_labels: {threads: $threads}
affinitynet: {backbone: resnet50, pretrained: false, epochs: 1, precision: $precision,
              threads: $threads, num_workers: $workers}
random_walk: {threads: $threads}
CONFIG
    local targets=("$folder/results/$experiment/pseudo_masks/train" "$folder/results/$experiment/random_walk/train.h5")
    local command=("${snakemake[@]}" "${targets[@]}" --configfile configs/voc_mini.yaml "$folder/gpu_check.yaml"
                   --cores "$cores" --resources gpu=1 --forceall)
    if [ "$dry_run" = 1 ]; then
        "${command[@]}" -n > "$folder/dry_run.txt" 2>&1 || { cat "$folder/dry_run.txt" >&2; exit 1; }
        echo "== $precision: the jobs of snakemake -n (full output: $folder/dry_run.txt)"
        sed -n '/^Job stats:/,/^total/{p;/^total/q}' "$folder/dry_run.txt"   # the first of its two tables
        return
    fi
    local left=$((deadline - SECONDS))
    if [ "$left" -le 0 ]; then
        echo "gpu_check: no time left for the $precision run (GPU_CHECK_SECONDS=$limit)" >&2
        exit 124
    fi
    echo "== $precision run into $folder ($left s left)"
    local status=0
    timeout "$left" "${command[@]}" > "$folder/snakemake.log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        tail -n 30 "$folder/snakemake.log" >&2
        if [ "$status" -eq 124 ]; then
            echo "gpu_check: the $precision run passed GPU_CHECK_SECONDS=$limit s; log: $folder/snakemake.log" >&2
        else
            echo "gpu_check: the $precision run failed (exit $status); log: $folder/snakemake.log" >&2
        fi
        exit "$status"
    fi
}

run fp32
run bf16

if [ "$dry_run" = 1 ]; then
    total_jobs() { grep -m1 -E '^total +[0-9]+$' "$out/$1/dry_run.txt" | awk '{print $2}'; }
    echo "gpu_check dry_run=1 fp32_jobs=$(total_jobs fp32) bf16_jobs=$(total_jobs bf16)"
    exit 0
fi

"$python" - "$out" "$experiment" "$SECONDS" <<'SUMMARY'
"""Images/s and peak GPU memory per stage of the two runs, from their benchmark TSVs and logs."""
import re
import sys
from pathlib import Path

import pandas as pd
import yaml

from wsss.data.labels import load_split

out, experiment, seconds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
# stage -> (rule's benchmark/log name, config section whose epochs multiply the images; None: one pass)
STAGES = {"train_classifier": ("train_classifier", "classifier"), "make_cams": ("make_cams_train", None),
          "make_affinity_labels": ("make_affinity_labels_train", None),
          "train_affinitynet": ("train_affinitynet", "affinitynet"), "random_walk": ("random_walk_train", None)}
base = yaml.safe_load(Path("configs/voc_mini.yaml").read_text())
values, table = {}, []
for precision in ("fp32", "bf16"):
    override = yaml.safe_load((out / precision / "gpu_check.yaml").read_text())
    folder = Path(override["results"]) / experiment
    n_train = len(load_split(Path(override["results"]) / "voc2012_mini/labels.tsv", "train", labelled_only=True))
    for stage, (name, section) in STAGES.items():
        seconds_taken = float(pd.read_csv(folder / "benchmarks" / f"{name}.tsv", sep="\t")["s"].iloc[0])
        if section is None:
            images = n_train
        else:  # every epoch sees the split's full batches
            batch = base[section]["batch_size"]
            images = n_train // batch * batch * override[section]["epochs"]
        peak = re.findall(r"peak_gpu_memory_mb=([0-9.]+)", (folder / "logs" / f"{name}.log").read_text())
        values[f"{precision}_{stage}_images_per_s"] = f"{images / seconds_taken:.1f}"
        values[f"{precision}_{stage}_peak_mb"] = peak[-1] if peak else "-"  # "-": a CPU stage
        table.append(f"{precision}  {stage:22s} {images / seconds_taken:9.1f} images/s ({images} in "
                     f"{seconds_taken:.1f} s)  peak GPU memory {peak[-1] + ' MiB' if peak else '-'}")
print("\n".join(table))
print("gpu_check " + " ".join(f"{key}={value}" for key, value in values.items()) + f" seconds={seconds}")
SUMMARY

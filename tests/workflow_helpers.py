"""Run the real Snakefile on a tiny synthetic config in a temporary folder."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEMAKE = Path(sys.executable).parent / "snakemake"

#: The embedded default shrunk so the whole DAG runs in well under a minute on 2 cores.
TINY = {
    "run_experiments": ["cam"],
    "localization": {"experiments": ["cam", "cam+gradcam"], "cam_threshold_step": 0.05, "threads": 1},
    "sweeps": {"entropy_lambda": {"base": "cam+entropy", "key": "classifier.entropy.lambda", "values": [1.0e-3]}},
    "synthetic": {"n_train": 16, "n_val": 8, "image_size": 64},
    "classifier": {"epochs": 1, "batch_size": 8, "crop_size": 64, "threads": 1, "eader": {"switch_every": 1}},
    "cams": {"scales": [1.0, 0.5], "threads": 1},
    "evaluate_cams": {"thresholds": [0.1, 0.2, 0.3]},
    "affinity_labels": {"threads": 1},
    "affinitynet": {"epochs": 1, "crop_size": 64, "radius": 3, "threads": 1},
    "random_walk": {"logt": 4, "threads": 1},
    "segmentation": {"epochs": 1, "crop_size": 64, "threads": 1},
}


def write_config(folder: Path, overrides: dict | None = None) -> Path:
    config = {section: (dict(values) if isinstance(values, dict) else values) for section, values in TINY.items()}
    for section, values in (overrides or {}).items():
        if isinstance(values, dict):
            config.setdefault(section, {}).update(values)
        else:
            config[section] = values
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(folder),
               "--configfile", str(folder / "tiny.yaml"), "--cores", "2", *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def planned_jobs(folder: Path, *targets: str) -> dict[str, int]:
    """Rule -> job count that a dry run (of the default target, or targets) would execute now."""
    out = snakemake(folder, *targets, "-n", "--quiet", "rules")
    text = out.stdout + out.stderr
    jobs = {}
    for name, count in re.findall(r"^(\w+)\s+(\d+)$", text, flags=re.M):
        if name != "total":
            jobs[name] = int(count)
    return jobs


def planned_wildcards(folder: Path, *targets: str) -> list[dict[str, str]]:
    """The wildcards of every job that a dry run (of the default target, or targets) would execute now
    (jobs without wildcards, such as `all`, are left out)."""
    out = snakemake(folder, *targets, "-n")
    lines = re.findall(r"^\s+wildcards: (.+)$", out.stdout + out.stderr, flags=re.M)
    return [dict(pair.split("=", 1) for pair in line.split(", ")) for line in lines]

"""benchmarks/gpu_check.sh on a CPU: its dry run plans the CAM, affinity-label and random-walk jobs of one
experiment in fp32 and in bf16, each into its own results folder, and without a GPU it stops at once;
wsss.runtime.log_peak_gpu_memory logs the line the script reads."""

import logging
import re
import shutil
import subprocess

import pytest
import torch
import yaml

from workflow_helpers import REPO

SCRIPT = REPO / "benchmarks" / "gpu_check.sh"
JOBS = {"make_labels": 1, "train_classifier": 1, "make_cams": 1, "make_affinity_labels": 1,
        "train_affinitynet": 1, "random_walk": 1}


def first_job_table(text: str) -> dict[str, int]:
    """Rule -> count from the first `Job stats:` table of Snakemake's output."""
    table = text[text.index("Job stats:"):]
    table = table[:table.index("\ntotal")]
    return {name: int(count) for name, count in re.findall(r"^(\w+)\s+(\d+)$", table, flags=re.M)}


def test_the_dry_run_plans_one_experiment_to_the_random_walk_in_fp32_and_bf16(voc_mini, tmp_path):
    out = subprocess.run([str(SCRIPT), "--dry-run", str(tmp_path)], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    total = sum(JOBS.values())
    assert out.stdout.splitlines()[-1] == f"gpu_check dry_run=1 fp32_jobs={total} bf16_jobs={total}"
    results = set()
    for precision in ("fp32", "bf16"):
        dry_run = (tmp_path / precision / "dry_run.txt").read_text()
        assert first_job_table(dry_run) == JOBS
        wildcards = re.findall(r"^\s+wildcards: (.+)$", dry_run, flags=re.M)
        assert len(wildcards) == total
        assert all("experiment=cam, seed=0" in line for line in wildcards if "experiment" in line)
        assert sum("split=train" in line for line in wildcards) == 3  # make_cams, make_affinity_labels, random_walk
        override = yaml.safe_load((tmp_path / precision / "gpu_check.yaml").read_text())
        assert override["device"] == "cuda" and override["allow_cpu_fallback"] is False
        assert override["run_experiments"] == ["cam"] and override["seeds"] == [0]
        for network in ("classifier", "affinitynet"):
            assert override[network]["backbone"] == "resnet50" and override[network]["pretrained"] is False
            assert override[network]["epochs"] == 1 and override[network]["precision"] == precision
        assert override["results"] == str(tmp_path / precision / "results")
        assert str(tmp_path / precision / "results" / "voc2012_mini" / "cam" / "seed0") in dry_run
        results.add(override["results"])
    assert len(results) == 2


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None or torch.cuda.is_available(),
                    reason="a GPU is here: the script would run for real")
def test_without_a_gpu_it_stops_at_once_with_one_line(tmp_path):
    out = subprocess.run([str(SCRIPT), str(tmp_path / "out")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout == ""
    assert len(out.stderr.splitlines()) == 1 and out.stderr.startswith("gpu_check: no CUDA GPU here"), out.stderr
    assert not (tmp_path / "out").exists()  # before any work


def test_peak_gpu_memory_is_logged_only_where_cuda_was_used(monkeypatch, caplog):
    from wsss.runtime import log_peak_gpu_memory

    log = logging.getLogger("test_gpu_check")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)
    with caplog.at_level(logging.INFO, logger="test_gpu_check"):
        log_peak_gpu_memory(log)
    assert caplog.messages == []  # CUDA present but never used: nothing to report
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *args: 3 * 2**20 + 2**19)  # 3.5 MiB
    with caplog.at_level(logging.INFO, logger="test_gpu_check"):
        log_peak_gpu_memory(log)
    assert caplog.messages == ["peak_gpu_memory_mb=3.5"]
    pattern = re.search(r're\.findall\(r"(peak_gpu_memory_mb=[^"]+)"', SCRIPT.read_text())[1]  # what the script greps
    assert re.findall(pattern, caplog.messages[0]) == ["3.5"]

"""The tiny DAG submitted through profiles/slurm to a real one-node Slurm gives the local run's results.

tests/slurm/start.sh starts munged, slurmctld and slurmd on localhost (`make test` as root installs them).
That cluster has no GPU and no accounting database, so the Slurm run uses profiles/slurm with the
test-only overrides of `slurm_test_profile`: the local partition, no account, gpu=0 for the GPU rules
(a GRES needs a device; with gpu=0 the plugin asks no --gpus and the job runs on the CPU as locally),
small memory and runtime, and job states from squeue instead of sacct.
"""

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from workflow_helpers import REPO, SNAKEMAKE, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.slurm

SLURM_DIR = REPO / "tests" / "slurm"
PARTITION = "debug"
#: CAMs are deterministic on the CPU: the two runs' caches agree to float16 storage precision.
CAM_ATOL = 1e-3
#: summary.tsv rows agree to its 2-decimal rounding, except the segmenters', which are not bitwise
#: reproducible from run to run (README): those within this many mIoU points.
SUMMARY_ATOL = 0.01
SEGMENTER_ATOL = 1.0
SEGMENTER_STAGES = {"segmentation", "fully_supervised"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _require_slurm():
    """Skip where Slurm cannot run here; in CI (CI set) that is a failure: `make test` as root installs it."""
    reason = None
    if shutil.which("sbatch") is None:
        reason = ("sbatch not found: the Slurm test cluster needs `apt-get install slurm-wlm munge` (Debian; "
                  "`make test` runs it as root)")
    elif os.geteuid() != 0:
        reason = "the Slurm test cluster runs its daemons (munged, slurmctld, slurmd) as root: run the tests as root"
    if reason and os.environ.get("CI"):
        pytest.fail(f"{reason}; in CI this test must run: `make test` as root installs Slurm with apt-get")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    """The environment that talks to a one-node cluster started for this module, stopped afterwards."""
    _require_slurm()
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "SLURM_TEST_PARTITION": PARTITION,
           "SLURM_TEST_CTLD_PORT": str(_free_port()), "SLURM_TEST_SLURMD_PORT": str(_free_port())}
    try:
        started = subprocess.run(["bash", str(SLURM_DIR / "start.sh"), str(state)], env=env,
                                 capture_output=True, text=True, timeout=180)
        assert started.returncode == 0, f"start.sh failed:\n{started.stdout}\n{started.stderr}"
        # bin/ holds an srun that knows this cluster's config (start.sh says why)
        yield {**env, "SLURM_CONF": str(state / "slurm.conf"), "PATH": f"{state / 'bin'}:{env['PATH']}"}
    finally:
        subprocess.run(["bash", str(SLURM_DIR / "stop.sh"), str(state)], capture_output=True, timeout=120)


def slurm_test_profile(folder: Path) -> Path:
    """profiles/slurm with the overrides this CPU-only, accounting-free test cluster needs."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    defaults = profile["default-resources"]
    del defaults["slurm_account"]  # the test cluster has no accounts (and --slurm-no-account below)
    defaults.update(slurm_partition=PARTITION, mem_mb="1000 * attempt", runtime="10 * attempt")
    for resources in profile["set-resources"].values():
        if "gpu" in resources:
            resources["gpu"] = 0  # overrides the rules' own gpu=1: no --gpus, a CPU job
            resources.pop("gpu_model", None)
        resources.update(mem_mb="1000 * attempt", runtime="10 * attempt")
    profile.update({
        "jobs": 4,
        "latency-wait": 5,
        "slurm-no-account": True,
        "slurm-status-command": "squeue",  # no slurmdbd: sacct knows no jobs; MinJobAge=600 keeps them in squeue
        "slurm-init-seconds-before-status-checks": 2,
    })
    target = folder / "profile"
    target.mkdir()
    (target / "config.yaml").write_text(yaml.safe_dump(profile))
    return target


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The cam experiment of the tiny config through Slurm and, meanwhile, locally (--cores 2), in two folders."""
    overrides = {"run_experiments": ["cam"]}
    cluster = tmp_path_factory.mktemp("cluster")
    write_config(cluster, overrides)
    planned = planned_jobs(cluster)
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(cluster),
               "--configfile", str(cluster / "tiny.yaml"), "--workflow-profile", str(slurm_test_profile(cluster))]
    log_path = cluster / "snakemake_slurm.log"
    # The Slurm run mostly waits for status checks: the local run goes at the same time.
    with open(log_path, "w") as log_file:
        slurm_run = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=cluster,
                                     env=slurm_cluster, text=True)
        try:
            local = tmp_path_factory.mktemp("local")
            write_config(local, overrides)
            snakemake(local)
            returncode = slurm_run.wait(timeout=1800)
        finally:
            if slurm_run.poll() is None:
                slurm_run.kill()
                slurm_run.wait()
    log = log_path.read_text()
    assert returncode == 0, f"the Slurm run failed:\n{log[-8000:]}"
    return SimpleNamespace(local=local, cluster=cluster, planned=planned, log=log)


def test_jobs_were_submitted_to_slurm(runs, slurm_cluster):
    run_id = re.search(r"SLURM run ID: (\S+)", runs.log).group(1)
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", runs.log)
    # every job of the DAG but the target rule `all` (no script: Snakemake finishes it itself)
    assert len(job_ids) == sum(runs.planned.values()) - runs.planned["all"]
    # squeue, not sacct: without an accounting database, finished jobs stay in slurmctld for MinJobAge
    queue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%j", "--jobs", ",".join(job_ids)],
                           capture_output=True, text=True, env=slurm_cluster, check=True).stdout
    states = {job_id: (state, name) for job_id, state, name in (line.split("|") for line in queue.split())}
    assert states == {job_id: ("COMPLETED", run_id) for job_id in job_ids}


def test_summary_matches_the_local_run(runs):
    key = ["stage", "split", "metric"]
    local = pd.read_csv(runs.local / "results/synthetic/cam/summary.tsv", sep="\t").set_index(key)
    cluster = pd.read_csv(runs.cluster / "results/synthetic/cam/summary.tsv", sep="\t").set_index(key)
    assert sorted(local.index) == sorted(cluster.index)
    cluster = cluster.loc[local.index]
    segmenter = local.index.get_level_values("stage").isin(SEGMENTER_STAGES)
    np.testing.assert_allclose(cluster["value"][~segmenter], local["value"][~segmenter], rtol=0, atol=SUMMARY_ATOL)
    np.testing.assert_allclose(cluster["value"][segmenter], local["value"][segmenter], rtol=0, atol=SEGMENTER_ATOL)
    pd.testing.assert_series_equal(cluster["threshold"], local["threshold"])  # the same best CAM thresholds


@pytest.mark.parametrize("split", ["train", "val"])
def test_cam_caches_match_the_local_run(runs, split):
    path = f"results/synthetic/cam/cams/{split}.h5"
    with h5py.File(runs.local / path, "r") as local, h5py.File(runs.cluster / path, "r") as cluster:
        assert cluster.attrs["checkpoint_sha256"] == local.attrs["checkpoint_sha256"]  # the same classifier, bitwise
        assert set(cluster.keys()) == set(local.keys()) and len(local.keys()) > 0
        for image_id, group in local.items():
            assert list(cluster[image_id].attrs["keys"]) == list(group.attrs["keys"])
            assert set(cluster[image_id].keys()) == set(group.keys())
            for name, dataset in group.items():
                np.testing.assert_allclose(cluster[image_id][name][()].astype(np.float32),
                                           dataset[()].astype(np.float32), rtol=0, atol=CAM_ATOL,
                                           err_msg=f"{split}.h5 {image_id}/{name}")

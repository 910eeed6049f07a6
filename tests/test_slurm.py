"""The tiny DAG submitted through profiles/slurm to a real one-node Slurm gives the local run's results,
unsharded and with `shards=2`, and every job, shard and merge jobs included, gets the profile's sizing.

tests/slurm/start.sh starts munged, slurmctld and slurmd on localhost (`make test` as root installs them).
That cluster has no GPU and no accounting database, so the Slurm runs use profiles/slurm with the
test-only overrides of `slurm_test_profile`: the local partition, no account, gpu=0 for every rule the
profile sizes (a GRES needs a device; with gpu=0 the plugin asks no --gpus and the job runs on the CPU as
locally), the profile's memory divided by MEMORY_SCALE (so that the node need not hold 16 GB a job, while
the rules' sizes stay apart), its runtimes as they are, and job states from squeue instead of sacct.
What sbatch received is read back from slurmctld with squeue: partition, memory, time limit and TRES.
"""

import os
import re
import shutil
import socket
import subprocess
from collections import Counter
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
#: profiles/slurm's mem_mb is divided by this on the test node (16 GB -> 1000 MB, the 4 GB default -> 250 MB).
MEMORY_SCALE = 16
#: What the sharded run builds: the training split's merged CAM cache and affinity labels, one GPU and
#: one CPU stage, an HDF5 merge and a PNG-folder merge (tests/test_workflow.py merges every stage locally).
EXPERIMENT = "results/synthetic/cam/seed0"
SHARDED_TARGETS = [f"{EXPERIMENT}/cams/train.h5", f"{EXPERIMENT}/affinity_labels/train"]
SHARD_RULES = ["make_cams_shard", "make_affinity_labels_shard"]
MERGE_RULES = ["merge_cams", "merge_affinity_labels"]


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


def on_test_cluster(resources: dict, *, cpu_only: bool) -> dict:
    """One rule's (or the default) resources of profiles/slurm as this cluster can grant them: mem_mb
    divided by MEMORY_SCALE, the runtime as it is, and with cpu_only gpu=0 and no gpu_model."""
    sized = {key: value for key, value in resources.items() if not (cpu_only and key == "gpu_model")}
    if "mem_mb" in sized:
        sized["mem_mb"] = f"({sized['mem_mb']}) // {MEMORY_SCALE}"
    if cpu_only:
        sized["gpu"] = 0  # overrides the rule's own gpu= (1, or a training rule's processes): no --gpus
    return sized


def slurm_test_profile(folder: Path) -> Path:
    """profiles/slurm with the overrides this CPU-only, accounting-free test cluster needs."""
    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    assert profile["executor"] == "slurm"
    defaults = dict(profile["default-resources"], slurm_partition=PARTITION)
    del defaults["slurm_account"]  # the test cluster has no accounts (and --slurm-no-account below)
    profile["default-resources"] = on_test_cluster(defaults, cpu_only=False)
    # new dicts, one per rule: the profile's YAML aliases (make_cams_shard: *make_cams) share one
    profile["set-resources"] = {rule: on_test_cluster(resources, cpu_only=True)
                                for rule, resources in profile["set-resources"].items()}
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


def expected_request(profile: dict, rule: str) -> tuple[str, int, int]:
    """(partition, memory in MB, time limit in minutes) that `profile` gives a first attempt of `rule`."""
    resources = {**profile["default-resources"], **profile["set-resources"].get(rule, {})}
    first = {"attempt": 1}  # the values are Python expressions of `attempt`
    return resources["slurm_partition"], eval(str(resources["mem_mb"]), first), eval(str(resources["runtime"]), first)


def minutes(time_limit: str) -> int:
    """squeue's time limit, [days-][hours:]minutes:seconds, in whole minutes."""
    days, _, clock = time_limit.rpartition("-")
    hours, mins, seconds = ([0, 0] + [int(part) for part in clock.split(":")])[-3:]
    assert seconds == 0, time_limit
    return (int(days or 0) * 24 + hours) * 60 + mins


def submitted_jobs(log: str, env: dict) -> dict[str, SimpleNamespace]:
    """Every job a Snakemake Slurm run's log says it submitted, as slurmctld holds it: its state, job name,
    rule (the plugin's --comment rule_<rule>[_wildcards_...]), partition, memory (MB), time limit (minutes)
    and TRES per node (N/A: no GPU asked). squeue, not sacct: without an accounting database, finished
    jobs stay in slurmctld for MinJobAge."""
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert job_ids, f"no job submitted:\n{log[-3000:]}"
    queue = subprocess.run(["squeue", "--states=all", "--noheader", "--format=%i|%T|%j|%k|%P|%m|%l|%b",
                            "--jobs", ",".join(job_ids)], capture_output=True, text=True, env=env, check=True).stdout
    jobs = {}
    for line in queue.split():
        job_id, state, name, comment, partition, memory, time_limit, tres = line.split("|")
        assert memory.endswith("M"), line
        rule = re.fullmatch(r"rule_(\w+?)(_wildcards_.*)?", comment)[1]
        jobs[job_id] = SimpleNamespace(state=state, name=name, rule=rule, tres=tres,
                                       request=(partition, int(memory[:-1]), minutes(time_limit)))
    assert sorted(jobs) == sorted(job_ids), queue
    return jobs


def start_slurm_run(folder: Path, env: dict, *targets: str) -> tuple[subprocess.Popen, Path]:
    """Snakemake on folder's tiny.yaml through the test profile, in the background; its output goes to a log."""
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(folder),
               "--configfile", str(folder / "tiny.yaml"), "--workflow-profile", str(slurm_test_profile(folder)),
               *targets]
    log_path = folder / "snakemake_slurm.log"
    with open(log_path, "w") as log_file:
        run = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, cwd=folder, env=env, text=True)
    return run, log_path


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The cam experiment of the tiny config through Slurm, SHARDED_TARGETS with shards=2 through Slurm
    too, and, meanwhile, the cam experiment locally (--cores 2), in three folders."""
    overrides = {"run_experiments": ["cam"]}
    cluster, sharded = tmp_path_factory.mktemp("cluster"), tmp_path_factory.mktemp("sharded")
    write_config(cluster, overrides)
    write_config(sharded, {**overrides, "shards": 2})
    planned, planned_sharded = planned_jobs(cluster), planned_jobs(sharded, *SHARDED_TARGETS)
    # The Slurm runs mostly wait for status checks: all three go at the same time.
    started = [start_slurm_run(cluster, slurm_cluster), start_slurm_run(sharded, slurm_cluster, *SHARDED_TARGETS)]
    try:
        local = tmp_path_factory.mktemp("local")
        write_config(local, overrides)
        snakemake(local)
        returncodes = [run.wait(timeout=1800) for run, _ in started]
    finally:
        for run, _ in started:
            if run.poll() is None:
                run.kill()
                run.wait()
    log, sharded_log = (log_path.read_text() for _, log_path in started)
    assert returncodes[0] == 0, f"the Slurm run failed:\n{log[-8000:]}"
    assert returncodes[1] == 0, f"the sharded Slurm run failed:\n{sharded_log[-8000:]}"
    return SimpleNamespace(local=local, cluster=cluster, planned=planned, log=log,
                           sharded=sharded, planned_sharded=planned_sharded, sharded_log=sharded_log)


def test_jobs_were_submitted_to_slurm(runs, slurm_cluster):
    run_id = re.search(r"SLURM run ID: (\S+)", runs.log).group(1)
    jobs = submitted_jobs(runs.log, slurm_cluster)
    # every job of the DAG but the target rule `all` (no script: Snakemake finishes it itself)
    assert Counter(job.rule for job in jobs.values()) == {r: n for r, n in runs.planned.items() if r != "all"}
    assert {(job.state, job.name) for job in jobs.values()} == {("COMPLETED", run_id)}


def test_every_job_got_its_rules_sizing_from_the_profile(runs, slurm_cluster):
    for folder, log in ((runs.cluster, runs.log), (runs.sharded, runs.sharded_log)):
        profile = yaml.safe_load((folder / "profile" / "config.yaml").read_text())
        for job_id, job in submitted_jobs(log, slurm_cluster).items():
            assert job.request == expected_request(profile, job.rule), f"job {job_id} of rule {job.rule}"
            assert job.tres == "N/A", f"job {job_id} of rule {job.rule}"  # gpu=0 here: no --gpus on a GRES-less node


def test_shard_jobs_are_sized_as_their_rule_and_merge_jobs_as_the_defaults(runs, slurm_cluster):
    jobs = submitted_jobs(runs.sharded_log, slurm_cluster)
    assert {job.state for job in jobs.values()} == {"COMPLETED"}
    assert Counter(job.rule for job in jobs.values()) == {r: n for r, n in runs.planned_sharded.items() if r != "all"}
    assert set(SHARD_RULES + MERGE_RULES) <= {job.rule for job in jobs.values()}
    sharded = {job.rule: job.request for job in jobs.values()}
    unsharded = {job.rule: job.request for job in submitted_jobs(runs.log, slurm_cluster).values()}
    for shard in SHARD_RULES:  # what sbatch got for the unsharded rule's job in the other run
        assert {job.request for job in jobs.values() if job.rule == shard} == {unsharded[shard.removesuffix("_shard")]}
    for merge in MERGE_RULES:  # the CPU defaults, as for make_labels; not a shard job's GPU sizing
        assert sharded[merge] == unsharded["make_labels"] != sharded["make_cams_shard"]
    # the GPU the profile gives each shard rule (which this node cannot grant) is its unsharded rule's
    real = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["set-resources"]
    for shard in SHARD_RULES:
        assert real[shard] == real[shard.removesuffix("_shard")], shard
    assert real["make_cams_shard"]["gpu"] == 1


def assert_same_attrs(a, b, where: str):
    assert sorted(a) == sorted(b), where
    for key, value in a.items():
        assert np.array_equal(value, b[key]), f"{where}: attribute {key}"


def assert_same_h5(path_a: Path, path_b: Path):
    """The two caches hold the same image groups with bitwise the same arrays and attributes."""
    with h5py.File(path_a, "r") as a, h5py.File(path_b, "r") as b:
        assert sorted(a) == sorted(b) and len(a) > 0, (path_a, path_b)
        assert_same_attrs(a.attrs, b.attrs, str(path_b))
        for name, group in a.items():
            assert_same_attrs(group.attrs, b[name].attrs, f"{path_b} {name}")
            assert set(group) == set(b[name]), f"{path_b} {name}"
            for dataset, array in group.items():
                assert np.array_equal(array[()], b[name][dataset][()]), f"{path_b} {name}/{dataset}"


def test_sharded_run_merges_into_the_local_unsharded_results(runs):
    assert_same_h5(runs.local / EXPERIMENT / "cams/train.h5", runs.sharded / EXPERIMENT / "cams/train.h5")
    local, sharded = (run / EXPERIMENT / "affinity_labels/train" for run in (runs.local, runs.sharded))
    files = sorted(path.name for path in local.glob("*.png"))
    assert files == sorted(path.name for path in sharded.glob("*.png")) and len(files) == 16  # n_train
    for name in files:
        assert (local / name).read_bytes() == (sharded / name).read_bytes(), f"affinity_labels/train/{name}"
    assert not list((runs.sharded / "results").glob("**/*.shards"))  # the shard outputs are temporary


def test_summary_matches_the_local_run(runs):
    key = ["stage", "split", "metric"]
    local = pd.read_csv(runs.local / "results/synthetic/cam/seed0/summary.tsv", sep="\t").set_index(key)
    cluster = pd.read_csv(runs.cluster / "results/synthetic/cam/seed0/summary.tsv", sep="\t").set_index(key)
    assert sorted(local.index) == sorted(cluster.index)
    cluster = cluster.loc[local.index]
    segmenter = local.index.get_level_values("stage").isin(SEGMENTER_STAGES)
    np.testing.assert_allclose(cluster["value"][~segmenter], local["value"][~segmenter], rtol=0, atol=SUMMARY_ATOL)
    np.testing.assert_allclose(cluster["value"][segmenter], local["value"][segmenter], rtol=0, atol=SEGMENTER_ATOL)
    pd.testing.assert_series_equal(cluster["threshold"], local["threshold"])  # the same best CAM thresholds


@pytest.mark.parametrize("split", ["train", "val"])
def test_cam_caches_match_the_local_run(runs, split):
    path = f"results/synthetic/cam/seed0/cams/{split}.h5"
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

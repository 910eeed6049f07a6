"""profiles/slurm sizes every GPU job, the shard jobs of `use rule ... as <name>_shard` included
(set-resources matches rules by name, so a renamed rule would otherwise get the CPU defaults)."""

import re
import subprocess

import yaml

from workflow_helpers import REPO, SNAKEMAKE

PROFILE = REPO / "profiles" / "slurm" / "config.yaml"


def gpu_rules(ask=r"1") -> set[str]:
    """Rules whose resources ask gpu=<ask>, and the renamed copies `use rule` makes of them."""
    rules, renamed = set(), {}
    for path in sorted((REPO / "rules").glob("*.smk")):
        text = path.read_text()
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|^    (?:use )?rule |\Z)", text, flags=re.M | re.S):
            if re.search(rf"^\s+gpu={ask},", body, flags=re.M):
                rules.add(name)
        renamed.update(re.findall(r"use rule (\w+) as (\w+)", text))
    return rules | {copy for original, copy in renamed.items() if original in rules}


def test_every_gpu_rule_and_its_shard_copy_is_sized_in_the_slurm_profile():
    sized = yaml.safe_load(PROFILE.read_text())["set-resources"]
    expected = gpu_rules()
    assert {"make_cams", "make_cams_shard", "random_walk_shard", "segment_images_shard"} <= expected
    missing = sorted(name for name in expected if sized.get(name, {}).get("gpu") != 1)
    assert not missing, f"{PROFILE}: no gpu: 1 entry in set-resources for {missing}"
    # the training rules ask for config <network>.processes GPUs: a gpu entry in the profile would override it
    training = gpu_rules(ask=r"training_gpus\(\"\w+\"\)")
    assert training == {"train_classifier", "train_affinitynet", "train_segmenter"}
    overriding = sorted(name for name in training if "gpu" in sized.get(name, {}))
    assert not overriding, f"{PROFILE}: gpu entries override the training rules' processes: {overriding}"
    assert all("mem_mb" in sized[name] for name in training)  # sized all the same


def test_a_sharded_dry_run_gives_the_shard_jobs_the_gpu_sizing(tmp_path):
    out = subprocess.run([str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path), "-n",
                          "--workflow-profile", str(REPO / "profiles" / "slurm"),
                          "--config", "shards=2", f"results={tmp_path / 'results'}", "run_experiments=[cam]"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = re.findall(r"^rule (\w+):\n(.*?)^    resources: (.*?)$", out.stdout, flags=re.M | re.S)
    sized = yaml.safe_load(PROFILE.read_text())["set-resources"]
    shard_jobs = {name: resources for name, _, resources in jobs if name.endswith("_shard")}
    assert set(shard_jobs) >= {"make_cams_shard", "random_walk_shard", "segment_images_shard",
                               "make_affinity_labels_shard"}
    for name, resources in shard_jobs.items():
        want = sized.get(name, {"mem_mb": "4000 * attempt", "runtime": "30 * attempt"})  # the defaults
        got = dict(item.split("=", 1) for item in resources.split(", "))
        assert got["mem_mb"] == str(eval(str(want["mem_mb"]), {"attempt": 1})), f"{name}: {resources}"
        assert got["runtime"] == str(eval(str(want["runtime"]), {"attempt": 1})), f"{name}: {resources}"
        assert got.get("gpu") == ("1" if want.get("gpu") == 1 else None), f"{name}: {resources}"

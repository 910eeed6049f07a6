"""Each paper setting in configs/ is a valid config whose DAG builds against a VOC-layout tree
(the real VOC sample beside the repo stands in for the full VOC 2012 + SBD) or a wsolevaluation tree."""

import re
import subprocess

import pytest
import yaml

from test_wsol_pipeline import make_tiny_wsol
from workflow_helpers import REPO, SNAKEMAKE

CONFIGS = REPO / "configs"
VOC_PAPERS = ["voc12_psa.yaml", "voc12_irn_thresholds.yaml", "voc12_puzzlecam.yaml", "voc12_eader.yaml"]


def dry_run(folder, configs, *targets):
    command = [str(SNAKEMAKE), "-s", str(REPO / "Snakefile"), "--directory", str(folder), "--cores", "8", "-n",
               "--quiet", "rules", *targets, "--configfile", *map(str, configs)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def jobs_of(out) -> dict[str, int]:
    return {name: int(n) for name, n in re.findall(r"^(\w+)\s+(\d+)$", out.stdout + out.stderr, flags=re.M)
            if name != "total"}


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_config_states_its_deviations(name):
    text = (CONFIGS / name).read_text()
    assert re.search(r"^# .*[Dd]eviation", text, flags=re.M), f"{name} must list its deviations from the paper"
    yaml.safe_load(text)


@pytest.mark.parametrize("name", VOC_PAPERS)
def test_voc_paper_config_builds_its_dag_on_a_voc_tree(tmp_path, voc_mini, name):
    stand_in = tmp_path / "stand_in.yaml"
    stand_in.write_text(yaml.safe_dump({"dataset": {"root": str(voc_mini), "splits": {
        "train": "ImageSets/SegmentationAug/train_aug.txt", "val": "ImageSets/Segmentation/val.txt"}}}))
    configs = [CONFIGS / "voc12_psa.yaml"] + ([CONFIGS / name] if name != "voc12_psa.yaml" else []) + [stand_in]
    out = dry_run(tmp_path, configs)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    experiments = yaml.safe_load((CONFIGS / name).read_text()).get("run_experiments", ["cam"])
    jobs = jobs_of(out)
    assert jobs["train_classifier"] == len(experiments)
    assert jobs["random_walk"] == len(experiments) and jobs["summarise_experiment"] == len(experiments)


def test_cub_config_builds_the_localization_dag_on_a_wsol_tree(tmp_path):
    make_tiny_wsol(tmp_path / "wsol", n_train=3, n_test=3)
    stand_in = tmp_path / "stand_in.yaml"
    stand_in.write_text(yaml.safe_dump({"dataset": {"root": str(tmp_path / "wsol" / "dataset"), "wsol": {
        "metadata_root": str(tmp_path / "wsol" / "metadata")}}}))
    out = dry_run(tmp_path, [CONFIGS / "cub_entropy.yaml", stand_in])
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = jobs_of(out)
    # cam, entropy, label smoothing, confidence penalty, and the sweep's 0 / 1e-5 / 1e-3 (1e-4 is cam+entropy);
    # cam+gradcam shares cam's classifier
    assert jobs["train_classifier"] == 7 and jobs["evaluate_localization"] == 8
    assert "random_walk" not in jobs

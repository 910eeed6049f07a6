"""The real DAG on a tiny synthetic config: it runs, and reruns only what a change invalidates."""

import h5py
import numpy as np
import pandas as pd
import pytest

from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    write_config(folder)
    snakemake(folder)
    return folder


def test_whole_dag_runs(finished_run):
    summary = pd.read_csv(finished_run / "results/synthetic/cam/seed0/summary.tsv", sep="\t")
    assert set(summary["split"]) == {"train", "val"}
    assert summary["value"].between(0, 100).all()
    sweep = pd.read_csv(finished_run / "results/synthetic/cam/seed0/eval/cams_val_sweep.tsv", sep="\t")
    assert sweep["threshold"].tolist() == [0.1, 0.15, 0.2, 0.3]  # the fixed 0.15 is always evaluated
    assert planned_jobs(finished_run) == {}  # a finished run has nothing left to do


def test_cam_cache_schema(finished_run):
    labels = pd.read_csv(finished_run / "results/synthetic/labels.tsv", sep="\t")
    val_ids = set(labels.loc[labels["split"] == "val", "image_id"])
    with h5py.File(finished_run / "results/synthetic/cam/seed0/cams/val.h5", "r") as cache:
        assert cache.attrs["format"] == "wsss-cams" and cache.attrs["split"] == "val"
        assert len(cache.attrs["checkpoint_sha256"]) == 64 and "scales" in cache.attrs["config"]
        assert set(cache.keys()) == val_ids
        for image_id in val_ids:
            group = cache[image_id]
            keys, h, w = group.attrs["keys"], group.attrs["height"], group.attrs["width"]
            assert group["high_res"].shape == (len(keys), h, w)
            assert group["cam"].shape == (len(keys), -(-h // 8), -(-w // 8))
            high_res = group["high_res"][()].astype(np.float32)
            assert high_res.min() >= 0 and high_res.max() <= 1.0 + 1e-3


#: What a change to the random walk invalidates: the walk and everything downstream of it.
#: (The report's figures read the evaluations and the masks, so they are redrawn too.)
AFTER_WALK = {"random_walk": 1, "evaluate_pseudo_masks": 1, "train_segmenter": 1, "segment_images": 1,
              "evaluate_segmentation": 1, "summarise_experiment": 1, "compare_experiments": 1,
              "plot_per_class_iou": 1, "make_overlays": 1, "all": 1}
AFTER_CAMS = {"make_affinity_labels": 1, "evaluate_affinity_labels": 1, "train_affinitynet": 1, **AFTER_WALK}


def test_param_change_reruns_only_dependents(finished_run):
    write_config(finished_run, {"evaluate_cams": {"fixed_threshold": 0.2}})
    assert planned_jobs(finished_run) == {"evaluate_cams": 2, "summarise_experiment": 1, "compare_experiments": 1,
                                          "plot_per_class_iou": 1, "all": 1}
    write_config(finished_run, {"random_walk": {"beta": 4}})
    assert planned_jobs(finished_run) == AFTER_WALK  # not AffinityNet training
    write_config(finished_run, {"random_walk": {"logt": 3}})
    assert planned_jobs(finished_run) == AFTER_WALK
    write_config(finished_run, {"cams": {"flip": False}})
    assert planned_jobs(finished_run) == {"make_cams": 2, "evaluate_cams": 2, **AFTER_CAMS}
    write_config(finished_run, {"classifier": {"lr": 0.01}})
    # the upper-bound segmenter starts from the classifier too, so it reruns as well
    both_segmenters = {"train_segmenter": 2, "segment_images": 2, "evaluate_segmentation": 2}
    assert planned_jobs(finished_run) == {"train_classifier": 1, "make_cams": 2, "evaluate_cams": 2,
                                          **AFTER_CAMS, **both_segmenters}
    write_config(finished_run)
    assert planned_jobs(finished_run) == {}


def test_summary_has_every_stage(finished_run):
    summary = pd.read_csv(finished_run / "results/synthetic/cam/seed0/summary.tsv", sep="\t")
    assert set(summary["stage"]) == {"cam", "affinity_labels", "pseudo_masks", "segmentation", "fully_supervised"}
    masks = sorted((finished_run / "results/synthetic/cam/seed0/pseudo_masks/train").glob("*.png"))
    assert len(masks) == 16
    assert not (finished_run / "results/synthetic/cam/seed0/pseudo_masks/train.partial").exists()
    for supervision in ("pseudo", "gt"):
        masks = finished_run / f"results/synthetic/cam/seed0/segmentation/{supervision}/val"
        assert len(list(masks.glob("*.png"))) == 8


def test_lint_is_clean(finished_run):
    out = snakemake(finished_run, "--lint", check=False)
    assert "Congratulations, your workflow is in a good condition!" in out.stdout + out.stderr


#: Every job of one experiment, from its classifier to its summary.
ONE_EXPERIMENT = {**AFTER_CAMS, "train_classifier": 1, "make_cams": 2, "evaluate_cams": 2,
                  "train_segmenter": 2, "segment_images": 2, "evaluate_segmentation": 2}


def test_adding_an_experiment_reruns_nothing_of_the_others(finished_run):
    write_config(finished_run, {"run_experiments": ["cam", "puzzle+eader"]})
    assert planned_jobs(finished_run) == ONE_EXPERIMENT  # one of each: none of them is the cam experiment's
    snakemake(finished_run)
    table = pd.read_csv(finished_run / "results/synthetic/experiments.tsv", sep="\t")
    assert table["experiment"].tolist() == ["cam", "puzzle+eader"]
    assert table.drop(columns="experiment").notna().all().all()
    history = pd.read_csv(finished_run / "results/synthetic/puzzle+eader/seed0/classifier/history.tsv", sep="\t")
    assert {"cls", "p_cls", "re", "mining", "area", "adversary"} <= set(history.columns)
    write_config(finished_run)  # back to cam only: only the comparison table changes
    assert planned_jobs(finished_run) == {"compare_experiments": 1, "all": 1}
    snakemake(finished_run)


def test_experiments_share_an_upper_bound_that_does_not_depend_on_their_classifier(finished_run):
    # the tiny config starts the segmenters from the classifier, so each experiment has its own upper bound;
    # starting from ImageNet instead, puzzle's upper bound is cam's (one gt segmenter for both)
    write_config(finished_run, {"run_experiments": ["cam", "puzzle"], "segmentation": {"init_from_classifier": False}})
    jobs = planned_jobs(finished_run)
    write_config(finished_run)
    assert jobs["train_segmenter"] == 3 and jobs["segment_images"] == 3


def test_ablation_experiments_reuse_what_they_share_with_cam(finished_run):
    # only the random walk's dCRF differs: cam's CAMs, affinity labels and AffinityNet are reused
    write_config(finished_run, {"run_experiments": ["cam", "cam+rw_crf"]})
    jobs = planned_jobs(finished_run)
    assert jobs == {"random_walk": 1, "evaluate_pseudo_masks": 1, "train_segmenter": 1, "segment_images": 1,
                    "evaluate_segmentation": 1, "summarise_experiment": 1, "compare_experiments": 1,
                    "plot_per_class_iou": 1, "make_overlays": 1, "all": 1}
    # no random walk at all: masks from the CAMs, then the segmenter; no affinity labels in its summary
    write_config(finished_run, {"run_experiments": ["cam", "cam-rw"]})
    jobs = planned_jobs(finished_run)
    write_config(finished_run)
    assert jobs["make_cam_masks"] == 1 and "random_walk" not in jobs and "train_affinitynet" not in jobs
    assert "make_cams" not in jobs and "train_classifier" not in jobs


def test_an_invalid_experiment_override_names_the_experiment_and_key(finished_run):
    write_config(finished_run, {"experiments": {"bad": {"classifier": {"methods": ["not_a_method"]}}}})
    out = snakemake(finished_run, "-n", check=False)
    write_config(finished_run)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "experiments.bad" in text and "not_a_method" in text


def test_localization_table_and_a_sweep_value_reruns_only_its_experiment(finished_run):
    snakemake(finished_run, "localization")
    table = pd.read_csv(finished_run / "results/synthetic/localization.tsv", sep="\t")
    assert table["experiment"].tolist() == ["cam", "cam+gradcam", "cam+entropy@lambda=0.001"]
    metrics = table.drop(columns="experiment")
    assert metrics.notna().all().all() and ((metrics >= 0) & (metrics <= 100)).all().all()
    # Grad-CAM of a GAP + linear head is CAM / (h w): the same maps once normalised, the same boxes
    cam, gradcam = table.iloc[0], table.iloc[1]
    assert not (finished_run / "results/synthetic/cam+gradcam/seed0/classifier").exists()  # cam's classifier, shared
    assert abs(cam["max_box_acc_v2"] - gradcam["max_box_acc_v2"]) < 1.0
    assert abs(cam["gt_known_loc"] - gradcam["gt_known_loc"]) < 1.0
    sweep = {"entropy_lambda": {"base": "cam+entropy", "key": "classifier.entropy.lambda", "values": [1.0e-3, 1.0e-5]}}
    write_config(finished_run, {"sweeps": sweep})
    assert planned_jobs(finished_run, "localization") == {
        "train_classifier": 1, "make_cams": 1, "evaluate_localization": 1, "localization_table": 1, "localization": 1}
    write_config(finished_run)


def test_tables_target_writes_every_paper_table(finished_run):
    tables = {"methods": ["cam"], "puzzle_ablation": ["cam"], "refinement": ["cam", "cam-rw"], "sweep": "entropy_lambda"}
    write_config(finished_run, {"tables": tables})
    snakemake(finished_run, "tables")
    rerun = planned_jobs(finished_run, "tables")
    write_config(finished_run)
    assert rerun == {}  # nothing stale afterwards
    folder = finished_run / "results/synthetic/tables"
    for name in ("methods", "puzzle_ablation", "refinement", "localization", "sweep"):
        for suffix in ("tsv", "md", "tex"):
            assert (folder / f"{name}.{suffix}").stat().st_size > 0, (name, suffix)
        assert (folder / f"{name}.tsv.provenance.json").exists()
        assert r"\begin{tabular}" in (folder / f"{name}.tex").read_text()
    summary = pd.read_csv(finished_run / "results/synthetic/cam/seed0/summary.tsv", sep="\t")
    cam_train = summary[(summary["stage"] == "cam") & (summary["split"] == "train") & (summary["metric"] == "miou_best")]
    methods = pd.read_csv(folder / "methods.tsv", sep="\t")
    assert methods.at[0, "CAM (train)"] == pytest.approx(float(cam_train["value"].iloc[0]), abs=0.01)
    refinement = pd.read_csv(folder / "refinement.tsv", sep="\t", keep_default_na=False)
    assert refinement["experiment"].tolist() == ["cam", "cam-rw"] and refinement["RW"].tolist() == ["yes", ""]
    no_rw = pd.read_csv(finished_run / "results/synthetic/cam-rw/seed0/summary.tsv", sep="\t")
    assert "affinity_labels" not in set(no_rw["stage"])  # its masks never came from affinity labels
    assert not (finished_run / "results/synthetic/cam-rw/seed0/cams").exists()  # cam's CAMs were reused


def test_sharded_stages_merge_into_the_unsharded_results(finished_run):
    write_config(finished_run, {"shards": 2, "results": "results_sharded"})
    jobs = planned_jobs(finished_run)
    assert jobs["make_cams_shard"] == 4 and jobs["merge_cams"] == 2 and "make_cams" not in jobs
    assert jobs["make_affinity_labels_shard"] == 2 and jobs["random_walk_shard"] == 2
    assert jobs["segment_images_shard"] == 4 and jobs["merge_segmentation"] == 2
    snakemake(finished_run)
    write_config(finished_run)
    one, two = finished_run / "results/synthetic/cam/seed0", finished_run / "results_sharded/synthetic/cam/seed0"
    for split in ("train", "val"):
        with h5py.File(one / f"cams/{split}.h5") as a, h5py.File(two / f"cams/{split}.h5") as b:
            assert sorted(a) == sorted(b)
            for name in a:
                assert np.array_equal(a[name]["high_res"][()], b[name]["high_res"][()])
    for folder in ("affinity_labels/train", "pseudo_masks/train"):
        files = sorted(p.name for p in (one / folder).glob("*.png"))
        assert files == sorted(p.name for p in (two / folder).glob("*.png")) and len(files) == 16
        assert all((one / folder / f).read_bytes() == (two / folder / f).read_bytes() for f in files)
    assert not list(two.glob("**/*.shards"))  # the shard outputs are temporary

"""What the stages check and report, through the rules' own scripts on tiny data: a CAM cache of another
split or checkpoint is refused, a missing GPU falls back with the warning in the rule's log, images
without an object label are skipped, named and counted, all-zero CAMs are counted, and results carry
their provenance (config values, code version, input checksums)."""

import hashlib
import json

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from script_runner import (EVALUATION, affinity_labels_fields, make_cams_fields, random_walk_fields, run_script,
                           save_network, tiny_dataset)
from wsss.errors import CacheError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("checks")
    data, labels = tiny_dataset(root, n_train=4, n_val=2)
    classifier = save_network(root / "classifier.pt", "classifier")
    run_script("make_cams", make_cams_fields(data, labels, classifier, root / "out"))
    return {"root": root, "data": data, "labels": labels, "classifier": classifier,
            "cams": root / "out" / "cams" / "train.h5"}


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_consumers_refuse_a_cache_of_another_checkpoint_or_split(tiny, tmp_path):
    other = save_network(tmp_path / "retrained.pt", "classifier", seed=1)
    fields = affinity_labels_fields(tiny["data"], tiny["labels"], other, tiny["cams"], tmp_path)
    with pytest.raises(CacheError, match=rf"attribute checkpoint_sha256='{sha256(tiny['classifier'])}' but this stage "
                                         rf"expects '{sha256(other)}'"):
        run_script("make_affinity_labels", fields)
    assert not fields["output"]["labels"].with_name("train.partial").exists()  # refused before any work

    fields = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"], tmp_path,
                                    split="val")  # the train cache handed to the val job
    with pytest.raises(CacheError, match=r"attribute split='train' but this stage expects 'val'"):
        run_script("make_affinity_labels", fields)

    affinitynet = save_network(tmp_path / "affinitynet.pt", "affinitynet")
    fields = random_walk_fields(tiny["data"], tiny["labels"], other, affinitynet, tiny["cams"], tmp_path)
    with pytest.raises(CacheError, match="attribute checkpoint_sha256="):
        run_script("random_walk", fields)
    assert not fields["output"]["masks"].with_name("train.partial").exists()

    fields = {"input": {"model": other, "cams": tiny["cams"], "labels": tiny["labels"]},
              "output": {"summary": tmp_path / "loc.tsv", "per_class": tmp_path / "loc_pxap.tsv"},
              "params": {"root": str(tiny["data"]), "split_folder": "", "device": "cpu", "allow_cpu_fallback": True,
                         "localization": {"box_fraction": 0.2, "cam_threshold_step": 0.1,
                                          "iou_thresholds": [0.5], "protocol": "ours"},
                         "evaluation": EVALUATION},
              "log": tmp_path / "loc.log", "wildcards": {"split": "train"}, "threads": 1}
    with pytest.raises(CacheError, match="attribute checkpoint_sha256="):
        run_script("evaluate_localization", fields)


def test_gpu_asked_for_without_one_falls_back_and_says_so_in_the_rule_log(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fields = make_cams_fields(tiny["data"], tiny["labels"], tiny["classifier"], tmp_path, device="cuda")
    run_script("make_cams", fields)
    log = fields["log"].read_text()
    assert "config key 'device' is 'cuda' but no CUDA GPU is visible: running on the CPU" in log
    assert fields["output"]["cams"].is_file()


def test_images_without_an_object_label_are_skipped_named_and_counted(tiny, tmp_path):
    table = pd.read_csv(tiny["labels"], sep="\t", dtype={"image_id": str})
    table.iloc[table.index[table["image_id"] == "train_00001"], 6:] = 0  # an all-zero label row
    labels = tmp_path / "labels.tsv"
    table.to_csv(labels, sep="\t", index=False)

    fields = make_cams_fields(tiny["data"], labels, tiny["classifier"], tmp_path)
    run_script("make_cams", fields)  # not an error
    log = fields["log"].read_text()
    assert "skipping image train_00001: no object label" in log
    assert "skipped 1 of 4 images: no object label" in log and "'n_skipped_unlabelled': 1" in log
    with h5py.File(fields["output"]["cams"], "r") as cache:
        assert sorted(cache) == ["train_00000", "train_00002", "train_00003"]

    from wsss.stages.evaluate_cams import evaluate_cam_cache

    rows = table[table["split"] == "train"].reset_index(drop=True)
    _, summary = evaluate_cam_cache(fields["output"]["cams"], tiny["data"], rows, thresholds=[0.2],
                                    fixed_threshold=0.15, expect={"split": "train"})
    assert summary.at[0, "n_unlabelled"] == 1 and summary.at[0, "n_images"] == 3


def test_all_zero_cams_of_a_labelled_class_are_counted_not_divided_by_zero(tiny, tmp_path):
    from wsss.data.labels import class_keys, load_split
    from wsss.models.loading import load_classifier
    from wsss.stages.make_cams import write_cam_cache

    rows = load_split(tiny["labels"], "train")
    keys = {row["image_id"]: class_keys(row).tolist() for _, row in rows.iterrows()}
    dead = keys["train_00000"][0]  # a class of the first image whose maps the model makes zero everywhere
    model = load_classifier(tiny["classifier"], "cpu")
    with torch.no_grad():
        model.head.weight[dead - 1] = 0
    stats = write_cam_cache(model, tiny["data"], rows, tmp_path / "train.h5", attrs={"split": "train"},
                            scales=[1.0, 0.5], flip=True, batch_size=1, device="cpu", progress=False)
    expected = {image_id: [dead] for image_id, k in keys.items() if dead in k}
    assert stats["empty_maps"] == expected and stats["n_empty_maps"] == len(expected)
    with h5py.File(tmp_path / "train.h5", "r") as cache:
        assert cache.attrs["n_empty_maps"] == len(expected)
        for image_id in expected:
            maps = cache[image_id]["high_res"][()]
            assert np.isfinite(maps).all() and not maps[keys[image_id].index(dead)].any()


def test_results_record_config_code_version_and_input_checksums(tiny, tmp_path):
    with h5py.File(tiny["cams"], "r") as cache:  # the CAM cache (make_cams)
        assert json.loads(cache.attrs["inputs_sha256"])[str(tiny["labels"])] == sha256(tiny["labels"])
        assert json.loads(cache.attrs["config"])["scales"] == [1.0, 0.5] and cache.attrs["git_describe"]

    fields = {"input": {"cams": tiny["cams"], "classifier": tiny["classifier"], "labels": tiny["labels"]},
              "output": {"sweep": tmp_path / "eval" / "cams_train_sweep.tsv",
                         "summary": tmp_path / "eval" / "cams_train.tsv"},
              "params": {"root": str(tiny["data"]), "evaluate": {"thresholds": [0.1, 0.2], "fixed_threshold": 0.15},
                         "evaluation": EVALUATION},
              "log": tmp_path / "evaluate_cams.log", "wildcards": {"split": "train"}}
    run_script("evaluate_cams", fields)  # an evaluation TSV (evaluate_cams)
    for table in ("cams_train_sweep.tsv", "cams_train.tsv"):
        record = json.loads((tmp_path / "eval" / f"{table}.provenance.json").read_text())
        assert record["config"] == {"thresholds": [0.1, 0.2], "fixed_threshold": 0.15, "evaluation": EVALUATION}
        assert record["inputs_sha256"] == {str(p): sha256(p) for p in (tiny["cams"], tiny["classifier"],
                                                                       tiny["labels"])}
        assert record["git_describe"] and record["wsss_version"]

    fields = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"], tmp_path)
    run_script("make_affinity_labels", fields)  # a PNG folder (make_affinity_labels)
    record = json.loads((fields["output"]["labels"] / "provenance.json").read_text())
    assert record["config"]["affinity_labels"]["alpha_low"] == 4 and record["config"]["crf"]["n_iters"] == 2
    assert record["inputs_sha256"][str(tiny["cams"])] == sha256(tiny["cams"])


def test_random_walk_records_the_crf_it_ran_and_never_resumes_work_of_another_crf(tiny, tmp_path, monkeypatch):
    import wsss.stages.random_walk as stage

    affinitynet = save_network(tmp_path / "affinitynet.pt", "affinitynet")
    fields = random_walk_fields(tiny["data"], tiny["labels"], tiny["classifier"], affinitynet, tiny["cams"], tmp_path,
                                crf=True)
    original, calls = stage.refine_image, []

    def stops_at_the_third_image(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(stage, "refine_image", stops_at_the_third_image)
    with pytest.raises(KeyboardInterrupt):
        run_script("random_walk", fields)
    monkeypatch.setattr(stage, "refine_image", original)
    fields["params"]["crf"] = {**fields["params"]["crf"], "n_iters": 3}  # the CRF settings changed
    run_script("random_walk", fields)
    assert "'resumed': 0" in fields["log"].read_text()
    with h5py.File(fields["output"]["scores"], "r") as scores:
        assert json.loads(scores.attrs["config"])["crf_settings"]["n_iters"] == 3
    record = json.loads((fields["output"]["masks"] / "provenance.json").read_text())
    assert record["config"]["crf_settings"]["n_iters"] == 3

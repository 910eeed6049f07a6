"""SIGKILL in the middle of a rule's work, then the rerun: training resumes from its last checkpoint to the
same weights as an uninterrupted run, and a killed per-image stage leaves no output a rerun (or Snakemake)
could take for complete, resumes from the images already done, and ends with the same content.

Each kill runs the rule's own workflow script in a child process that SIGKILLs itself from inside
the work (tests/kill_child.py); the reruns and the uninterrupted references run in this process.
"""

import hashlib
import json
import signal

import h5py
import numpy as np
import pytest
import torch

from script_runner import (affinity_labels_fields, make_cams_fields, random_walk_fields, run_killed, run_script,
                           save_network, tiny_dataset, train_classifier_fields)

KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Six 32-px training images, their label table, untrained networks, and the CAM cache of the classifier."""
    root = tmp_path_factory.mktemp("kill")
    data, labels = tiny_dataset(root)
    classifier = save_network(root / "classifier.pt", "classifier")
    affinitynet = save_network(root / "affinitynet.pt", "affinitynet")
    run_script("make_cams", make_cams_fields(data, labels, classifier, root / "ref"))
    return {"data": data, "labels": labels, "classifier": classifier, "affinitynet": affinitynet,
            "cams": root / "ref" / "cams" / "train.h5"}


def cache_contents(path) -> dict:
    """{image/dataset or image/attribute: value} of an HDF5 cache, file attributes left out."""
    contents = {}
    with h5py.File(path, "r") as handle:
        for name, group in handle.items():
            contents.update({f"{name}/{key}": np.asarray(value) for key, value in group.attrs.items()})
            contents.update({f"{name}/{key}": dataset[()] for key, dataset in group.items()})
    return contents


def assert_same_cache(a, b):
    ca, cb = cache_contents(a), cache_contents(b)
    assert sorted(ca) == sorted(cb)
    for key in ca:
        assert ca[key].dtype == cb[key].dtype and np.array_equal(ca[key], cb[key]), key  # bitwise


def png_bytes(folder) -> dict:
    return {path.name: path.read_bytes() for path in sorted(folder.glob("*.png"))}


def test_training_killed_mid_epoch_resumes_from_its_checkpoint_to_the_same_weights(tiny, tmp_path):
    # 6 images, batch 2: 3 steps per epoch, 2 epochs. Saves every 2 iterations and at each epoch's end;
    # killed in the loss of iteration 5 of 6 (epoch 2, step 2), after the save at epoch 2 step 1.
    fields = train_classifier_fields(tiny["data"], tiny["labels"], tmp_path / "killed")
    child = run_killed(tmp_path, "train_classifier", fields, kill="wsss.training.classifier:classifier_loss",
                       after=4, factory=True, fit={"checkpoint_every": 2})
    assert child.returncode == KILLED, child.stderr[-2000:]
    assert not (tmp_path / "killed" / "classifier" / "model.pt").exists()
    state = torch.load(fields["params"]["state"], weights_only=False)
    assert (state["epoch"], state["step"], state["iteration"]) == (1, 1, 4)  # mid-epoch, not the epoch's start
    assert {"optimizer", "scheduler", "rng", "sums", "counts"} <= set(state)
    assert state["optimizer"]["state"]  # Adam's moments travel with it

    run_script("train_classifier", fields)  # the rerun
    log = (tmp_path / "killed" / "train_classifier.log").read_text()
    assert "at epoch 2/2 step 1/3 (iteration 4/6)" in log
    reference = train_classifier_fields(tiny["data"], tiny["labels"], tmp_path / "reference")
    run_script("train_classifier", reference)  # uninterrupted, same seed
    resumed = torch.load(fields["output"]["model"], weights_only=False)
    uninterrupted = torch.load(reference["output"]["model"], weights_only=False)
    assert resumed["state_dict"].keys() == uninterrupted["state_dict"].keys()
    for name, value in uninterrupted["state_dict"].items():
        assert torch.equal(resumed["state_dict"][name], value), name  # bitwise on the CPU
    assert resumed["history"] == uninterrupted["history"]
    # model.pt records what made it: config values with the seed, the code version, the inputs' sha256
    assert json.loads(resumed["config"])["seed"] == 0 and resumed["git_describe"]
    assert json.loads(resumed["inputs_sha256"]) == {str(tiny["labels"]): hashlib.sha256(
        tiny["labels"].read_bytes()).hexdigest()}


def test_make_cams_killed_leaves_no_cache_and_resumes_to_the_same_content(tiny, tmp_path):
    fields = make_cams_fields(tiny["data"], tiny["labels"], tiny["classifier"], tmp_path)
    cams = fields["output"]["cams"]
    # SIGKILL in the writer thread, inside the third image's maps (cam, high_res per image): two are done
    child = run_killed(tmp_path, "make_cams", fields, kill="wsss.io.h5cache:_dataset", after=4)
    assert child.returncode == KILLED, child.stderr[-2000:]
    assert not cams.exists()  # nothing that looks finished
    assert cams.with_name("train.h5.partial").exists()
    run_script("make_cams", fields)
    assert "'resumed': 2" in fields["log"].read_text()
    assert not cams.with_name("train.h5.partial").exists()
    assert_same_cache(cams, tiny["cams"])


def test_crf_stage_killed_leaves_no_folder_and_resumes_to_the_same_labels(tiny, tmp_path):
    fields = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"], tmp_path)
    out = fields["output"]["labels"]
    partial = out.with_name("train.partial")
    child = run_killed(tmp_path, "make_affinity_labels", fields,
                       kill="wsss.stages.make_affinity_labels:affinity_labels_for", after=3)
    assert child.returncode == KILLED, child.stderr[-2000:]
    assert not out.exists() and len(png_bytes(partial)) == 3
    (partial / "train_00001.png.tmp").write_bytes(b"half a png")  # as a kill inside write_label_png leaves
    run_script("make_affinity_labels", fields)
    assert "'resumed': 3" in fields["log"].read_text()
    reference = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"],
                                       tmp_path / "reference")
    run_script("make_affinity_labels", reference)
    assert png_bytes(out) == png_bytes(reference["output"]["labels"]) and len(png_bytes(out)) == 6
    assert not list(out.glob("*.tmp")) and (out / "provenance.json").is_file()


def test_a_partial_folder_made_with_other_settings_is_emptied_not_published(tiny, tmp_path, monkeypatch):
    import wsss.stages.make_affinity_labels as stage

    fields = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"], tmp_path)
    out = fields["output"]["labels"]
    original, calls = stage.affinity_labels_for, []

    def stops_at_the_third_image(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the job stopped with two alpha_low=4 masks in the partial folder
        return original(*args, **kwargs)

    monkeypatch.setattr(stage, "affinity_labels_for", stops_at_the_third_image)
    with pytest.raises(KeyboardInterrupt):
        run_script("make_affinity_labels", fields)
    monkeypatch.setattr(stage, "affinity_labels_for", original)
    assert len(png_bytes(out.with_name("train.partial"))) == 2
    other = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"], tmp_path,
                                   alpha_low=2)
    run_script("make_affinity_labels", other)  # the user changed affinity_labels.alpha_low and reran
    assert "'resumed': 0" in other["log"].read_text()
    fresh = affinity_labels_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["cams"],
                                   tmp_path / "fresh", alpha_low=2)
    run_script("make_affinity_labels", fresh)
    assert png_bytes(out) == png_bytes(fresh["output"]["labels"])


def test_random_walk_killed_leaves_no_output_and_resumes_to_the_same_masks_and_scores(tiny, tmp_path):
    fields = random_walk_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["affinitynet"], tiny["cams"],
                                tmp_path)
    masks, scores = fields["output"]["masks"], fields["output"]["scores"]
    child = run_killed(tmp_path, "random_walk", fields, kill="wsss.stages.random_walk:refine_image", after=2)
    assert child.returncode == KILLED, child.stderr[-2000:]
    assert not masks.exists() and not scores.exists()
    run_script("random_walk", fields)
    assert "'resumed': 2" in fields["log"].read_text()
    reference = random_walk_fields(tiny["data"], tiny["labels"], tiny["classifier"], tiny["affinitynet"],
                                   tiny["cams"], tmp_path / "reference")
    run_script("random_walk", reference)
    assert png_bytes(masks) == png_bytes(reference["output"]["masks"]) and len(png_bytes(masks)) == 6
    assert_same_cache(scores, reference["output"]["scores"])

"""Gradient accumulation and data-parallel training take the one-process step; one loader serves the run."""

import pytest
import torch

from distributed_job import train
from wsss.training.distributed import launch
from wsss.training.loop import TrainingError, epoch_order, micro_batch_size, training_batches

#: One step's gradient is a mean over the batch. Split into 2 micro-batches (or 2 processes) it is the mean
#: of two means of 4: the same sum in another order, so each gradient moves by a few float32 ulps
#: (eps 1.2e-7 relative) per step. Through 4 SGD steps of lr 0.05 on O(1) gradients the weights and
#: losses stay within ~1e-6 of each other; 1e-5 leaves a margin of 10 and is far below a real error (a
#: missed average over the processes doubles the step: differences of ~1e-2).
RTOL, ATOL = 1e-5, 1e-6
#: A real network (the AffinityNet stage, 2 steps): a gradient entry sums ~1e4-1e5 products (pixels x
#: channels x pairs) that may cancel, so one entry's reordering error has no bound relative to itself; the
#: whole update's does: float32 sums reordered agree to ~sqrt(n) x eps ~ 1e-5-1e-4 of their magnitude, and
#: the second step starts from weights that differ by that much. So the norms of the two runs' weight
#: changes agree to ~1e-4 relative; 1e-3 leaves a margin and stays far below a real error (a sum instead of a
#: mean over the processes doubles the update: 1.0; a share trained twice or skipped: ~0.5).
UPDATE_RTOL = 1e-3


def assert_same_updates(start, a, b):
    """Two runs' histories agree and their weight changes from start agree in norm (UPDATE_RTOL)."""
    (history_a, params_a), (history_b, params_b) = a, b
    for ha, hb in zip(history_a, history_b, strict=True):
        assert ha.keys() == hb.keys() and all(ha[k] == pytest.approx(hb[k], rel=RTOL) for k in ha)
    change_a = torch.cat([(p - s).flatten() for p, s in zip(params_a, start, strict=True)])
    change_b = torch.cat([(p - s).flatten() for p, s in zip(params_b, start, strict=True)])
    assert change_a.norm() > 0
    assert (change_a - change_b).norm() <= UPDATE_RTOL * change_a.norm()


def assert_same_run(a, b, atol=ATOL):
    (history_a, params_a), (history_b, params_b) = a, b
    assert [h["epoch"] for h in history_a] == [h["epoch"] for h in history_b]
    for ha, hb in zip(history_a, history_b):
        assert ha.keys() == hb.keys()
        for key in ha:
            assert ha[key] == pytest.approx(hb[key], rel=RTOL, abs=atol), key
    for pa, pb in zip(params_a, params_b):
        torch.testing.assert_close(pa, pb, rtol=RTOL, atol=atol)


def test_micro_batches_of_all_processes_make_up_the_one_process_batch():
    one = training_batches(16, 8, 3, epochs=2)
    assert len(one) == 4 and [e for e, _ in one[2]] == [1] * 8
    assert [i for _, i in one[0]] == epoch_order(16, 3, 0)[:8]
    split = [training_batches(16, 8, 3, epochs=2, rank=r, processes=2, accumulate=2) for r in range(2)]
    for step in range(4):  # step s: micro-batches 2s, 2s+1 of each process
        parts = [key for rank in split for key in rank[2 * step] + rank[2 * step + 1]]
        assert all(len(rank[2 * step]) == 2 for rank in split)
        assert parts == one[step]
    resumed = training_batches(16, 8, 3, epochs=2, start_epoch=1, start_step=1)
    assert resumed == one[3:]
    with pytest.raises(TrainingError, match="batch_size 8 does not split into 3 process"):
        micro_batch_size(8, processes=3)


def test_accumulated_micro_batches_take_the_full_batch_step(tmp_path):
    full = train("cpu", tmp_path / "a.pt")
    accumulated = train("cpu", tmp_path / "b.pt", accumulate=4)
    assert_same_run(full, accumulated)
    # the test can fail: a step per micro-batch (what a missing accumulation would do) is another run
    per_micro = train("cpu", tmp_path / "c.pt", batch_size=2)
    with pytest.raises(AssertionError):
        assert_same_run(full, per_micro)


def test_loader_workers_give_the_same_bits(tmp_path):
    plain = train("cpu", tmp_path / "a.pt")
    workers = train("cpu", tmp_path / "b.pt", num_workers=2)
    assert plain[0] == workers[0]
    assert all(torch.equal(a, b) for a, b in zip(plain[1], workers[1]))


def test_two_gloo_processes_match_one_process_at_the_same_global_batch(tmp_path):
    one = train("cpu", tmp_path / "one.pt")
    two = launch(train, ["cpu", "cpu"], tmp_path / "two.pt")
    assert_same_run(one, two)
    two_accumulating = launch(train, ["cpu", "cpu"], tmp_path / "acc.pt", accumulate=2)
    assert_same_run(one, two_accumulating)


def tiny_data(tmp_path):
    """A synthetic VOC-layout tree of 8 training images (40 px) and its labelled training rows."""
    from wsss.data.labels import build_label_table, labelled_rows, split_rows
    from wsss.data.synthetic import generate_synthetic_voc

    root = tmp_path / "voc"
    if not root.exists():
        generate_synthetic_voc(root, seed=2, n_train=8, n_val=2, image_size=40, progress=False)
    table = build_label_table(root, {"train": "ImageSets/Segmentation/train.txt"}, progress=False)
    return root, labelled_rows(split_rows(table, "train"))


def default_section(name: str) -> dict:
    """config.yaml's section of a network, with the schema's defaults (as the Snakefile validates it)."""
    import yaml
    from snakemake.utils import validate

    from workflow_helpers import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(config, str(REPO / "config.schema.yaml"))
    return config[name]


#: 1 epoch of 2 steps of 4 crops of 32 px, BatchNorm statistics fixed so that a share normalises as the batch.
TINY_SCHEDULE = {"epochs": 1, "batch_size": 4, "crop_size": 32, "batchnorm": "fixed_statistics",
                 "cache_images": False}


def affinity_job(tmp_path, processes, accumulate=1):
    """The train_affinitynet stage's job on tiny_data, its true masks as the affinity labels."""
    root, rows = tiny_data(tmp_path)
    cfg = {**default_section("affinitynet"), **TINY_SCHEDULE, "processes": processes, "accumulate": accumulate,
           "precision": "fp32", "optimizer": "sgd", "lr": 0.01}
    return {"cfg": cfg, "seed": 0, "threads": 2, "root": str(root), "rows": rows,
            "labels": str(root / "SegmentationClass"), "classifier": None,
            "state": str(tmp_path / f"state{processes}{accumulate}.pt"), "digest": "d", "log": "test"}


def test_the_affinitynet_stage_trains_data_parallel_as_one_process_accumulating_the_same_shares(tmp_path):
    """The affinity loss averages over each share's pixel pairs, not over its images, so two processes
    take the step of one process that accumulates the same two halves of each batch. (The segmenter's
    head has dropout, whose masks come from each process's generator: it cannot match bit for bit.)"""
    from wsss.models.affinitynet import build_affinitynet
    from wsss.stages.train_affinitynet import train_affinitynet

    job = affinity_job(tmp_path, 1, accumulate=2)
    torch.manual_seed(job["seed"])  # the stage's initial weights
    start = [p.detach().clone() for p in build_affinitynet(job["cfg"]["backbone"], pretrained=False,
                                                           output_stride=job["cfg"]["output_stride"]).parameters()]
    one_model, one_history = train_affinitynet("cpu", job)
    two_model, two_history = launch(train_affinitynet, ["cpu", "cpu"], affinity_job(tmp_path, 2))
    params = [[p.detach() for p in model.parameters()] for model in (one_model, two_model)]
    assert_same_updates(start, (one_history, params[0]), (two_history, params[1]))


def test_a_data_parallel_job_claims_as_many_different_gpus(tmp_path, monkeypatch):
    import wsss.runtime as runtime
    from wsss.errors import WSSSError

    monkeypatch.setattr(runtime, "GPU_LOCK_DIR", tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 3)
    monkeypatch.setattr(runtime, "_held_gpu_locks", [])
    assert runtime.resolve_devices("cuda", 2) == [torch.device("cuda:0"), torch.device("cuda:1")]
    assert runtime.resolve_devices("cpu", 2) == [torch.device("cpu")] * 2  # gloo processes
    with pytest.raises(WSSSError, match="4 training processes, one per GPU, but 3"):
        runtime.resolve_devices("cuda", 4)
    for handle in runtime._held_gpu_locks:
        handle.close()


def classifier_job(tmp_path, processes, accumulate=1, methods=("eader",)):
    """The train_classifier stage's job on tiny_data."""
    from wsss.data.labels import class_columns

    root, rows = tiny_data(tmp_path)
    section = default_section("classifier")
    cfg = {**section, **TINY_SCHEDULE, "processes": processes, "accumulate": accumulate, "methods": list(methods),
           "eader": {**section["eader"], "switch_every": 1}}
    return {"cfg": cfg, "seed": 0, "threads": 2, "root": str(root), "rows": rows,
            "num_classes": len(class_columns(rows.columns)), "multilabel": True,
            "state": str(tmp_path / f"cls{processes}{accumulate}.pt"), "digest": "d", "log": "test"}


def test_eaders_alternating_turns_train_data_parallel(tmp_path):
    """EADER's localizer and adversary take turns (switch_every 1: one of each in the 2 steps), so each step
    leaves one network without gradients: the processes must still agree with the accumulating process."""
    from wsss.models.classifier import build_classifier
    from wsss.stages.train_classifier import train_classifier

    job = classifier_job(tmp_path, 1, accumulate=2)
    torch.manual_seed(job["seed"])
    start = [p.detach().clone() for p in build_classifier(job["cfg"]["backbone"], pretrained=False,
                                                          output_stride=job["cfg"]["output_stride"],
                                                          num_classes=job["num_classes"]).parameters()]
    one_model, one_extras, one_history = train_classifier("cpu", job)
    two_model, two_extras, two_history = launch(train_classifier, ["cpu", "cpu"], classifier_job(tmp_path, 2))
    assert set(one_extras) == set(two_extras) == {"adversary_state_dict"}
    params = [[p.detach() for p in model.parameters()] for model in (one_model, two_model)]
    assert_same_updates(start, (one_history, params[0]), (two_history, params[1]))

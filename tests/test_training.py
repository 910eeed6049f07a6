"""The shared training loop: exact resume from the per-epoch state, and a clear stop on NaN."""

import pytest
import torch
from torch import nn

from wsss.training.loop import Schedule, TrainingError, epoch_order, fit


class Noisy(torch.utils.data.Dataset):
    """A fixed random regression set whose items depend on (epoch, index), like the augmenting datasets."""

    def __init__(self, n=12):
        self.n, self.epoch = n, 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(1000 * self.epoch + index)
        x = torch.randn(4, generator=g)
        return x, x.sum().reshape(1)


def mse(model, batch, step=None):
    x, y = batch
    return nn.functional.mse_loss(model(x), y), {}


def train(state_path, epochs=3, on_epoch_end=None, loss_fn=mse):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    schedule = Schedule(epochs=epochs, batch_size=4, lr=0.05, optimizer="sgd")
    history = fit(model, Noisy(), loss_fn, schedule=schedule, param_groups=[{"params": list(model.parameters())}],
                  state_path=state_path, digest="d", device="cpu", progress=False, log=lambda *_: None,
                  on_epoch_end=on_epoch_end)
    return model, history


class Killed(Exception):
    pass


def test_resume_matches_uninterrupted_run(tmp_path):
    reference, ref_history = train(tmp_path / "a.pt")

    def kill_after_first(epoch):
        if epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        train(tmp_path / "b.pt", on_epoch_end=kill_after_first)
    resumed, history = train(tmp_path / "b.pt")
    assert [h["epoch"] for h in history] == [1, 2, 3]
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)  # bitwise on the CPU
    assert history == ref_history


def test_state_with_other_params_is_ignored(tmp_path):
    train(tmp_path / "s.pt", epochs=1)
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    history = fit(model, Noisy(), mse, schedule=Schedule(epochs=1, batch_size=4, lr=0.01),
                  param_groups=[{"params": list(model.parameters())}], state_path=tmp_path / "s.pt",
                  digest="other", device="cpu", progress=False, log=lambda *_: None)
    assert len(history) == 1  # trained from scratch, not resumed from the other run's state


def test_nan_loss_stops_with_step_and_keeps_checkpoint(tmp_path):
    calls = {"n": 0}

    def explodes_in_epoch_two(model, batch, step):
        calls["n"] += 1
        loss, parts = mse(model, batch)
        return (loss * float("nan") if calls["n"] == 5 else loss), parts

    with pytest.raises(TrainingError, match=r"non-finite loss \(nan\) at epoch 2 step 2"):
        train(tmp_path / "n.pt", loss_fn=explodes_in_epoch_two)
    state = torch.load(tmp_path / "n.pt", weights_only=False)
    assert state["epoch"] == 1  # the last good checkpoint survives


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert epoch_order(10, 3, 1) == epoch_order(10, 3, 1)
    assert sorted(epoch_order(10, 3, 1)) == list(range(10))
    assert epoch_order(10, 3, 1) != epoch_order(10, 3, 2)


def test_inputs_fingerprint_follows_folder_content(tmp_path):
    from wsss.io.checkpoint import inputs_fingerprint

    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "a.png").write_bytes(b"1")
    (tmp_path / "labels.tsv").write_text("x")
    before = inputs_fingerprint([tmp_path / "masks", tmp_path / "labels.tsv"])
    assert before == inputs_fingerprint([tmp_path / "labels.tsv", tmp_path / "masks"])  # order-free
    (tmp_path / "masks" / "a.png").write_bytes(b"2")  # new pseudo masks: the old state must not resume
    assert inputs_fingerprint([tmp_path / "masks", tmp_path / "labels.tsv"]) != before


def test_a_part_reported_on_some_steps_is_averaged_over_those_steps(tmp_path):
    seen = []

    def alternating(model, batch, step):
        loss, _ = mse(model, batch)
        seen.append(step.iteration)
        # 3 steps per epoch: iterations 0 and 2 report 'turn' = iteration + 1, iteration 1 does not
        return loss, ({"turn": float(step.iteration + 1)} if step.iteration % 2 == 0 else {})

    _, history = train(tmp_path / "s.pt", epochs=1, loss_fn=alternating)
    assert seen == [0, 1, 2]
    assert history[0]["turn"] == pytest.approx((1 + 3) / 2)  # not (1 + 3) / 3


def test_mid_epoch_resume_restores_optimizer_schedule_and_rng_state(tmp_path):
    import random

    import numpy as np

    def noisy_loss(model, batch, step):
        # global torch / numpy / python randomness inside the step, as dropout or random erasing would use
        loss, parts = mse(model, batch)
        noise = torch.rand(()) + float(np.random.rand()) + random.random()
        return loss * (1 + 0.1 * noise), parts

    def run(state_path, kill_at=None, checkpoint_every=0):
        torch.manual_seed(0), np.random.seed(0), random.seed(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
        calls = []

        def loss_fn(model, batch, step):
            calls.append(step.iteration)
            if step.iteration == kill_at:
                raise Killed
            return noisy_loss(model, batch, step)

        schedule = Schedule(epochs=3, batch_size=4, lr=0.05, optimizer="adam")
        history = fit(model, Noisy(), loss_fn, schedule=schedule, param_groups=[{"params": list(model.parameters())}],
                      state_path=state_path, digest="d", device="cpu", progress=False, log=lambda *_: None,
                      checkpoint_every=checkpoint_every)
        return model, history, calls

    reference, ref_history, _ = run(tmp_path / "a.pt")
    with pytest.raises(Killed):  # 3 steps per epoch; saved after iteration 4 (epoch 2, step 2), killed in 5
        run(tmp_path / "b.pt", kill_at=5, checkpoint_every=5)
    state = torch.load(tmp_path / "b.pt", weights_only=False)
    assert (state["epoch"], state["step"], state["iteration"]) == (1, 2, 5)
    assert state["scheduler"]["iteration"] == 5 and state["optimizer"]["state"]
    resumed, history, calls = run(tmp_path / "b.pt")  # a fresh process's globals: seeded as at the start
    assert calls == [5, 6, 7, 8]  # the done steps are not replayed
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert history == ref_history


class NoisyImages(Noisy):
    """Images (3, 6, 6) and a per-image target, depending on (epoch, index)."""

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(1000 * self.epoch + index)
        x = torch.randn(3, 6, 6, generator=g)
        return x, x.mean().reshape(1)


def train_conv(state_path, channels_last, epochs=2, on_epoch_end=None):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 1))
    seen = []

    def loss_fn(model, batch, step):
        seen.append(batch[0].is_contiguous(memory_format=torch.channels_last))
        return mse(model, batch)

    fit(model, NoisyImages(), loss_fn, schedule=Schedule(epochs=epochs, batch_size=4, lr=0.05, optimizer="sgd"),
        param_groups=[{"params": list(model.parameters())}], state_path=state_path, digest="d", device="cpu",
        progress=False, log=lambda *_: None, on_epoch_end=on_epoch_end, channels_last=channels_last)
    return model, seen


def test_channels_last_trains_nhwc_and_resumes_bitwise(tmp_path):
    model, seen = train_conv(tmp_path / "a.pt", channels_last=True)
    assert all(seen) and model[0].weight.is_contiguous(memory_format=torch.channels_last)
    plain, seen_plain = train_conv(tmp_path / "p.pt", channels_last=False)
    assert not any(seen_plain)  # (3, 6, 6) batches are NCHW unless asked
    # same fp32 arithmetic in another summation order: 6 SGD steps of lr 0.05 on O(1) gradients that
    # differ by ~1e-6 keep the weights within ~1e-6 of the NCHW run, not necessarily equal bits
    for a, b in zip(model.parameters(), plain.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)

    def stop_after_first(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_conv(tmp_path / "b.pt", channels_last=True, on_epoch_end=stop_after_first)
    resumed, _ = train_conv(tmp_path / "b.pt", channels_last=True)
    for a, b in zip(model.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_bf16_autocast_runs_the_networks_in_bf16_returns_fp32_outputs_and_is_deterministic(tmp_path):
    from wsss.models.classifier import build_classifier
    from wsss.models.deeplab import build_segmenter
    from wsss.training.loop import autocast

    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    classifier, segmenter = build_classifier("smallnet", num_classes=3), build_segmenter("smallnet", num_classes=3)
    with autocast("cpu", "bf16"):
        assert classifier.backbone(images)[-1].dtype == torch.bfloat16  # the network body runs in bf16
        outputs = [classifier(images), classifier.class_maps(images), segmenter(images)]
    assert [o.dtype for o in outputs] == [torch.float32] * 3  # what the losses see
    runs = []
    for name in ("a", "b"):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                              nn.Linear(4, 1))
        fit(model, NoisyImages(), mse,
            schedule=Schedule(epochs=2, batch_size=4, lr=0.05, optimizer="sgd"),
            param_groups=[{"params": list(model.parameters())}], state_path=tmp_path / f"{name}.pt", digest="d",
            device="cpu", progress=False, log=lambda *_: None, precision="bf16")
        assert all(p.dtype == torch.float32 for p in model.parameters())  # fp32 master weights
        runs.append(model)
    for a, b in zip(runs[0].parameters(), runs[1].parameters()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="precision"):
        fit(runs[0], NoisyImages(), mse, schedule=Schedule(epochs=1, batch_size=4, lr=0.05), param_groups=[
            {"params": list(runs[0].parameters())}], state_path=tmp_path / "c.pt", digest="d", device="cpu",
            progress=False, log=lambda *_: None, precision="fp16")


# --- the official training recipes: lr schedule, parameter groups, frozen BatchNorm and stages ---

def test_lr_factor_poly_constant_and_wsolevaluation_step_decay():
    from wsss.training.loop import lr_factor

    assert [lr_factor(i, 4, 1.0) for i in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert lr_factor(2, 5, 0.9) == (1 - 2 / 5) ** 0.9
    assert [lr_factor(i, 4, 0) for i in range(4)] == [1.0] * 4  # poly_power 0: constant (EADER)
    # 2 steps per epoch, x0.1 at every 3rd epoch (1-based): epochs 1-2 at 1, 3-5 at 0.1, 6 at 0.01
    factors = [lr_factor(i, 12, 0, steps_per_epoch=2, step_every=3) for i in range(12)]
    assert factors == pytest.approx([1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.01, 0.01], rel=1e-12)


def test_schedule_from_config_gives_sgd_its_momentum_and_nesterov():
    from wsss.training.loop import make_optimizer

    cfg = {"epochs": 2, "batch_size": 4, "lr": 0.1, "weight_decay": 5e-4, "optimizer": "sgd", "momentum": 5e-4,
           "nesterov": True, "poly_power": 0.9, "lr_step_every": 0}
    schedule = Schedule.from_config(cfg)
    assert (schedule.momentum, schedule.nesterov, schedule.poly_power) == (5e-4, True, 0.9)
    model = nn.Linear(2, 1)
    optimizer = make_optimizer([{"params": [model.weight]}, {"params": [model.bias], "weight_decay": 0.0}], schedule)
    assert [(g["momentum"], g["nesterov"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (5e-4, True, 5e-4), (5e-4, True, 0.0)]


def test_lr_groups_split_biases_and_move_head_stages_as_the_rule_says():
    from wsss.models.classifier import build_classifier
    from wsss.training.freezing import freeze
    from wsss.training.param_groups import GroupRule

    model = build_classifier("smallnet", num_classes=3)
    default = model.param_groups(0.1)  # this package's default: two groups, every parameter once
    assert [(g["name"], g["lr"]) for g in default] == [("backbone", 0.1), ("head", 1.0)]
    assert sum(len(g["params"]) for g in default) == len(list(model.parameters()))
    psa = model.param_groups(0.1, GroupRule(head_lr_scale=10, bias_lr_scale=2, bias_weight_decay=False))
    # smallnet's biases are its BatchNorms'; the bias-free 1x1 head has none, so no 'head_bias' group
    assert [(g["name"], g["lr"], g.get("weight_decay")) for g in psa] == [
        ("backbone", 0.1, None), ("backbone_bias", 0.2, 0.0), ("head", 1.0, None)]
    bn = model.backbone.stages[0][0][1]
    assert any(p is bn.bias for p in psa[1]["params"]) and any(p is bn.weight for p in psa[0]["params"])
    last_stage = set(map(id, model.backbone.stages[-1].parameters()))
    moved = model.param_groups(0.1, GroupRule(head_stages=1))  # wsolevaluation: layer4 with the classifier
    assert last_stage <= set(map(id, moved[1]["params"])) and not last_stage & set(map(id, moved[0]["params"]))
    freeze(model.backbone, "frozen", frozen_stages=1)
    kept = {id(p) for g in model.param_groups(0.1) for p in g["params"]}
    assert kept == {id(p) for p in model.parameters() if p.requires_grad}
    assert not kept & set(map(id, model.backbone.stages[0].parameters()))
    with pytest.raises(ValueError, match="head_stages"):
        model.param_groups(0.1, GroupRule(head_stages=5))


class TinyImages(Noisy):
    """(3, 16, 16) images and a 3-class multi-hot target that depend on (epoch, index)."""

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(1000 * self.epoch + index)
        x = torch.randn(3, 16, 16, generator=g)
        return x, (x.mean(dim=(1, 2)) > 0).float()


def train_frozen(state_path, batchnorm, frozen_stages, on_epoch_end=None):
    from wsss.models.classifier import build_classifier
    from wsss.training.freezing import freeze

    torch.manual_seed(0)
    model = build_classifier("smallnet", num_classes=3)
    freeze(model.backbone, batchnorm, frozen_stages)
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss_fn(model, batch, step):
        images, labels = batch
        return nn.functional.multilabel_soft_margin_loss(model(images), labels), {}

    fit(model, TinyImages(), loss_fn, schedule=Schedule(epochs=2, batch_size=4, lr=0.05, optimizer="sgd"),
        param_groups=model.param_groups(0.05), state_path=state_path, digest="d", device="cpu", progress=False,
        log=lambda *_: None, on_epoch_end=on_epoch_end)
    return model, before


def changed(model, before):
    return {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}


def batchnorm_keys(model, entries=("weight", "bias", "running_mean", "running_var", "num_batches_tracked")):
    """State-dict keys of the backbone's BatchNorm entries."""
    return {f"{name}.{entry}" for name, m in model.backbone.named_modules(prefix="backbone")
            if isinstance(m, nn.BatchNorm2d) for entry in entries}


def test_frozen_batchnorm_and_stages_hold_under_model_train_and_resume_bitwise(tmp_path):
    model, before = train_frozen(tmp_path / "a.pt", "frozen", frozen_stages=1)
    moved = changed(model, before)
    assert len(batchnorm_keys(model)) == 8 * 5 and not moved & batchnorm_keys(model)  # PSA: no BatchNorm changes
    assert not {k for k in moved if k.startswith("backbone.stages.0.")}  # the frozen first stage
    assert "head.weight" in moved and any(k.startswith("backbone.stages.3.") for k in moved)
    assert all(not m.training for m in model.backbone.modules() if isinstance(m, nn.BatchNorm2d))

    def stop_after_first(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_frozen(tmp_path / "b.pt", "frozen", 1, on_epoch_end=stop_after_first)
    resumed, _ = train_frozen(tmp_path / "b.pt", "frozen", 1)
    for (name, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_fixed_statistics_train_the_affine_parameters_but_not_the_running_statistics(tmp_path):
    model, before = train_frozen(tmp_path / "s.pt", "fixed_statistics", frozen_stages=0)
    moved = changed(model, before)
    statistics = batchnorm_keys(model, ("running_mean", "running_var", "num_batches_tracked"))
    assert not moved & statistics  # IRN's FixedBatchNorm: running statistics fixed
    assert batchnorm_keys(model, ("weight", "bias")) <= moved  # ... but its weight and bias train
    trained, reference = train_frozen(tmp_path / "t.pt", "train", frozen_stages=0)
    assert statistics <= changed(trained, reference)  # the default updates them


def test_freeze_rejects_unknown_modes_and_stage_counts():
    from wsss.models.backbones import build_backbone
    from wsss.training.freezing import freeze

    backbone = build_backbone("smallnet")
    with pytest.raises(ValueError, match="batchnorm"):
        freeze(backbone, "eval")
    with pytest.raises(ValueError, match="frozen_stages"):
        freeze(backbone, "train", 5)


def test_precision_auto_is_bf16_only_where_the_device_computes_it_natively(monkeypatch):
    from wsss.training import loop

    assert loop.resolve_precision("fp32", "cpu") == "fp32" and loop.resolve_precision("bf16", "cpu") == "bf16"
    monkeypatch.setattr(loop, "native_bf16", lambda device: True)
    assert loop.resolve_precision("auto", "cpu") == "bf16"
    monkeypatch.setattr(loop, "native_bf16", lambda device: False)
    assert loop.resolve_precision("auto", "cpu") == "fp32"
    with pytest.raises(ValueError, match="precision"):
        loop.resolve_precision("fp16", "cpu")

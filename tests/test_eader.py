"""EADER: soft mask and erasing at the extremes, turn taking, gradients only to the network on turn."""

import pytest
import torch

from wsss.methods.eader import (LocalizerAdversary, attention_mining_loss, erase, labelled_pairs,
                                min_max_normalise, normalised_attention, pair_class_maps, phase, soft_mask)
from wsss.models.backbones import smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

torch.set_num_threads(2)

EADER = {"omega": 100.0, "sigma": 0.5, "alpha": 0.05, "beta": 1e-5, "switch_every": 10, "attention": "cam",
         "normalisation": "relu_max"}


def test_zero_attention_keeps_the_image_and_full_attention_erases_it():
    images = torch.randn(2, 3, 8, 8)
    keep = erase(images, soft_mask(torch.zeros(2, 1, 8, 8)))
    gone = erase(images, soft_mask(torch.ones(2, 1, 8, 8)))
    assert torch.allclose(keep, images, atol=1e-6 * images.abs().max().item())
    assert gone.abs().max().item() < 1e-6 * images.abs().max().item()


def test_soft_mask_is_one_half_at_sigma_and_steep_around_it():
    mask = soft_mask(torch.tensor([0.49, 0.5, 0.51]), omega=100.0, sigma=0.5)
    assert mask[1].item() == pytest.approx(0.5)
    assert mask[0].item() == pytest.approx(0.2689, abs=1e-3)  # sigmoid(-1)
    assert mask[2].item() == pytest.approx(0.7311, abs=1e-3)  # sigmoid(1)


def test_min_max_normalise_shifts_the_minimum_to_zero_and_leaves_constant_maps_zero():
    maps = torch.tensor([[[-1.0, 0.0], [1.0, 3.0]], [[2.0, 2.0], [2.0, 2.0]]])
    out = min_max_normalise(maps)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.25], [0.5, 1.0]]))
    assert torch.equal(out[1], torch.zeros(2, 2))  # EADER divides by 1 where the shifted max is 0


def test_the_two_normalisations_order_resize_and_normalise_differently():
    maps = torch.tensor([[[-2.0, 2.0]]])  # (N=1, h=1, w=2)
    relu_max = normalised_attention(maps, (1, 4), "relu_max")[0, 0, 0]
    min_max = normalised_attention(maps, (1, 4), "min_max")[0, 0, 0]
    # relu_max: [0, 1] (2 / (2 + 1e-5)), then resized; min_max: resized [-2, -1, 1, 2], then (x + 2) / 4
    torch.testing.assert_close(relu_max, torch.tensor([0.0, 0.25, 0.75, 1.0]) * 2 / (2 + 1e-5))
    torch.testing.assert_close(min_max, torch.tensor([0.0, 0.25, 0.75, 1.0]))
    negative = torch.tensor([[[-3.0, -1.0]]])  # a wholly negative map: ReLU zeroes it, min-max does not
    assert torch.equal(normalised_attention(negative, (1, 2), "relu_max"), torch.zeros(1, 1, 1, 2))
    torch.testing.assert_close(normalised_attention(negative, (1, 2), "min_max")[0, 0, 0], torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="'softmax'"):
        normalised_attention(maps, (1, 4), "softmax")


def test_classifier_loss_uses_the_configured_normalisation():
    model, batch = pair_and_batch()
    parts = {norm: classifier_loss(["eader"], eader={**EADER, "normalisation": norm})(model, batch, Step(0, 100))[1]
             for norm in ("relu_max", "min_max")}
    assert parts["relu_max"]["area"] != pytest.approx(parts["min_max"]["area"], rel=1e-3)


def test_turns_alternate_every_switch_every_steps_localizer_first():
    turns = [phase(i, 3) for i in range(9)]
    assert turns == ["localizer"] * 3 + ["adversary"] * 3 + ["localizer"] * 3


def test_labelled_pairs_and_attention_mining_loss():
    labels = torch.tensor([[0, 1, 1], [1, 0, 0]]).float()
    image_index, class_index = labelled_pairs(labels)
    assert image_index.tolist() == [0, 0, 1] and class_index.tolist() == [1, 2, 0]
    logits = torch.zeros(3, 3)
    logits[0, 1] = 100.0  # the adversary still sees class 1 after erasing it: probability 1
    expected = (1.0 + 0.5 + 0.5) / 3
    assert attention_mining_loss(logits, class_index).item() == pytest.approx(expected)


def test_gradcam_attention_equals_cam_attention_for_a_gap_linear_head():
    torch.manual_seed(0)
    model = Classifier(smallnet(8), num_classes=5).eval()
    images = torch.randn(2, 3, 32, 32)
    labels = torch.tensor([[1, 0, 1, 0, 0], [0, 0, 0, 1, 0]]).float()
    features = model.features(images)
    cams = model.head(features)
    image_index, class_index = labelled_pairs(labels)
    maps = {m: pair_class_maps(features, cams, cams.mean((2, 3)), image_index, class_index, m)
            for m in ("cam", "gradcam")}
    h, w = features.shape[-2:]
    assert torch.allclose(torch.relu(maps["cam"]) / (h * w), torch.relu(maps["gradcam"]), atol=1e-6)
    # after max-normalisation they agree up to the normaliser's epsilon (peaks are ~1e-2 at random init)
    assert torch.allclose(normalised_attention(maps["cam"], (32, 32)), normalised_attention(maps["gradcam"], (32, 32)),
                          atol=1e-2)


def pair_and_batch(seed=0):
    torch.manual_seed(seed)
    model = LocalizerAdversary(Classifier(smallnet(8), num_classes=20), Classifier(smallnet(8), num_classes=20))
    images, labels = torch.randn(4, 3, 64, 64), torch.zeros(4, 20)
    labels[torch.arange(4), torch.tensor([2, 2, 11, 17])] = 1
    labels[0, 11] = 1
    return model.train(), (images, labels)


@pytest.mark.parametrize("iteration,trained,still", [(0, "localizer", "adversary"), (10, "adversary", "localizer")])
def test_only_the_network_on_turn_gets_gradients(iteration, trained, still):
    model, batch = pair_and_batch()
    loss, parts = classifier_loss(["eader"], eader=EADER)(model, batch, Step(iteration, 100))
    loss.backward()
    assert all(p.grad is None for p in getattr(model, still).parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, trained).parameters())
    assert set(parts) == ({"cls", "mining", "area"} if trained == "localizer" else {"adversary"})
    assert all(p.requires_grad for p in model.parameters())  # frozen() restored the flags


@pytest.mark.parametrize("methods", [["eader"], ["puzzle", "eader"]])
@pytest.mark.parametrize("iteration", [0, 10])
def test_one_step_of_each_turn_decreases_its_loss_on_a_fixed_batch(methods, iteration):
    model, batch = pair_and_batch()
    loss_fn = classifier_loss(methods, eader=EADER,
                              puzzle={"grid": [2, 2], "alpha": 4.0, "ramp": 0.5, "p_cls": True, "re": True})
    optimizer = torch.optim.SGD(model.param_groups(0.02, 0.02), lr=0.02)
    step = Step(iteration, 100)
    before, _ = loss_fn(model, batch, step)
    optimizer.zero_grad(set_to_none=True)
    before.backward()
    optimizer.step()
    after, _ = loss_fn(model, batch, step)
    assert after.item() < before.item()


def test_unknown_method_is_named():
    with pytest.raises(ValueError, match="unknown classifier methods \\['not_a_method'\\]"):
        classifier_loss(["not_a_method"])

"""ADL: the drop mask drops the most attended region, the importance map is sigmoid(attention), the
layers act only in training, sit where the settings say, and leave the state_dict keys alone."""

import copy
import math

import pytest
import torch

from wsss.methods.adl import (DEFAULT_POSITIONS, attention_dropout, block_at, choose_drop, drop_mask,
                              importance_map, insert_adl, self_attention)
from wsss.models.backbones import smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import build_networks, classifier_loss, listed_methods
from wsss.training.freezing import freeze, keep_frozen
from wsss.training.loop import Step

torch.set_num_threads(1)

CLASSES = 5


def two_channel_features():
    """(1, 2, 2, 2) features whose channel mean is [[0, 0.5], [0.95, 1.0]]."""
    first = torch.tensor([[0.0, 0.25], [0.9, 1.5]])
    second = torch.tensor([[0.0, 0.75], [1.0, 0.5]])
    return torch.stack([first, second])[None]


def test_the_self_attention_is_the_channel_mean():
    attention = self_attention(two_channel_features())
    assert attention.shape == (1, 1, 2, 2)
    torch.testing.assert_close(attention[0, 0], torch.tensor([[0.0, 0.5], [0.95, 1.0]]), rtol=0, atol=0)


def test_the_drop_mask_drops_what_reaches_threshold_times_the_maximum():
    attention = torch.tensor([[[[0.0, 0.25], [0.5, 1.0]]], [[[2.0, 1.0], [0.0, 1.5]]]])  # two images
    mask = drop_mask(attention, 0.5)  # thresholds 0.5 and 1.0 (exact in binary): each image its own maximum
    assert torch.equal(mask, torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]], [[[0.0, 0.0], [1.0, 0.0]]]]))


def test_the_drop_map_zeroes_the_high_attention_region_and_keeps_the_rest():
    features = two_channel_features()
    dropped = attention_dropout(features, torch.tensor([True]), 0.9)
    assert torch.equal(dropped[..., 1, :], torch.zeros(1, 2, 2))  # attention 0.95 and 1.0 >= 0.9
    assert torch.equal(dropped[..., 0, :], features[..., 0, :])


def test_the_importance_map_is_the_sigmoid_of_the_attention():
    features = two_channel_features()
    stressed = attention_dropout(features, torch.tensor([False]), 0.9)
    assert torch.equal(stressed, features * torch.sigmoid(self_attention(features)))
    assert torch.equal(importance_map(torch.tensor([0.0])), torch.tensor([0.5]))


def test_each_image_gets_its_own_map():
    features = torch.cat([two_channel_features(), two_channel_features()])
    out = attention_dropout(features, torch.tensor([True, False]), 0.9)
    assert torch.equal(out[0], attention_dropout(features[:1], torch.tensor([True]), 0.9)[0])
    assert torch.equal(out[1], attention_dropout(features[:1], torch.tensor([False]), 0.9)[0])


def test_the_drop_mask_is_chosen_with_probability_drop_rate():
    # Binomial(n, 0.75) counts; 5 standard deviations either side fail with probability below 6e-7.
    torch.manual_seed(0)
    per_image = choose_drop(4000, 0.75, "image")
    assert abs(per_image.sum().item() - 3000) <= 5 * math.sqrt(4000 * 0.75 * 0.25)
    draws = [choose_drop(8, 0.75, "batch") for _ in range(2000)]
    assert all(d.all() or not d.any() for d in draws)  # one choice for the whole batch
    assert abs(sum(d.all().item() for d in draws) - 1500) <= 5 * math.sqrt(2000 * 0.75 * 0.25)
    assert not choose_drop(8, 0.0, "image").any() and choose_drop(8, 1.0, "batch").all()


def make_classifier():
    return Classifier(smallnet(8, width=4), num_classes=CLASSES)


def reference_features(model, images, positions, use_drop, threshold):
    """The last features of model's backbone run block by block, with attention_dropout after positions."""
    x, stages = images, model.backbone.stages
    places = {(s % len(stages), b % len(list(stages[s].children()))) for s, b in positions}
    for s, stage in enumerate(stages):
        for b, block in enumerate(stage.children()):
            x = block(x)
            if (s, b) in places:
                x = attention_dropout(x, use_drop, threshold)
    return x


@pytest.mark.parametrize("drop_rate", [0.0, 1.0])
def test_the_layers_act_after_the_default_blocks_in_training(drop_rate):
    torch.manual_seed(0)
    model = make_classifier().train()
    plain = copy.deepcopy(model)
    insert_adl(model, drop_rate=drop_rate, threshold=0.9, draw="image")
    images = torch.randn(2, 3, 32, 32)
    use_drop = torch.full((2,), drop_rate == 1.0)
    expected = reference_features(plain, images, DEFAULT_POSITIONS["smallnet"], use_drop, 0.9)
    assert torch.equal(model.features(images), expected)
    assert not torch.equal(model.features(images), plain.features(images))


def test_the_layers_are_the_identity_in_eval_mode_and_the_weights_load_into_the_plain_classifier():
    torch.manual_seed(0)
    model = make_classifier()
    keys = list(model.state_dict())
    insert_adl(model, drop_rate=0.75, threshold=0.9)
    assert list(model.state_dict()) == keys
    images, labels = torch.randn(2, 3, 32, 32), torch.eye(CLASSES)[:2]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss, _ = classifier_loss([])(model.train(), (images, labels), Step(0, 1))
    loss.backward()
    optimizer.step()
    plain = make_classifier()
    plain.load_state_dict(model.state_dict(), strict=True)  # what make_cams does with the saved model
    model.eval(), plain.eval()
    state = torch.get_rng_state()
    with torch.no_grad():
        assert torch.equal(model.class_maps(images), plain.class_maps(images))
    assert torch.equal(torch.get_rng_state(), state)  # no draws at inference


def test_the_layers_act_in_a_stage_that_freezing_holds_in_eval_mode():
    torch.manual_seed(0)
    model = make_classifier()
    freeze(model.backbone, "train", frozen_stages=4)
    plain = copy.deepcopy(model)
    insert_adl(model, drop_rate=1.0, threshold=0.9)
    keep_frozen(model.train()), keep_frozen(plain.train())
    images = torch.randn(2, 3, 32, 32)
    assert not torch.equal(model.features(images), plain.features(images))


def test_positions_are_a_setting_and_bad_ones_are_named():
    model = make_classifier()
    handles = insert_adl(model, [[1, 0]], drop_rate=1.0, threshold=0.9)
    assert [len(block_at(model.backbone, s, b)._forward_hooks) for s, b in [(1, 0), (2, 0), (3, 1)]] == [1, 0, 0]
    for handle in handles:
        handle.remove()
    with pytest.raises(ValueError, match=r"adl position \[3, 2\]: backbone 'smallnet' has no such block"):
        insert_adl(model, [[3, 2]], drop_rate=1.0, threshold=0.9)
    with pytest.raises(ValueError, match="name one block twice"):
        insert_adl(model, [[3, 1], [3, -1]], drop_rate=1.0, threshold=0.9)
    with pytest.raises(ValueError, match="unknown adl draw 'pixel'"):
        insert_adl(model, None, drop_rate=1.0, threshold=0.9, draw="pixel")


def test_the_method_builds_its_layers_and_changes_the_composed_loss():
    torch.manual_seed(0)
    model = make_classifier()
    plain = copy.deepcopy(model)
    settings = {"drop_rate": 1.0, "threshold": 0.9, "positions": None, "draw": "batch"}
    trained = build_networks(listed_methods(["adl"], adl=settings), model, make_classifier)
    assert trained is model and list(model.state_dict()) == list(plain.state_dict())
    images, labels = torch.randn(4, 3, 32, 32), torch.eye(CLASSES)[:4]
    loss, parts = classifier_loss(["adl"], adl=settings)(trained, (images, labels), Step(0, 1))
    before, _ = classifier_loss([])(plain, (images, labels), Step(0, 1))
    assert set(parts) == {"cls"} and not torch.equal(loss, before)
    features = reference_features(plain, images, DEFAULT_POSITIONS["smallnet"], torch.ones(4, dtype=torch.bool), 0.9)
    logits = plain.head(features).mean(dim=(2, 3))
    assert torch.equal(loss, torch.nn.functional.multilabel_soft_margin_loss(logits, labels))


def test_with_eader_the_adversary_gets_the_layers_too():
    torch.manual_seed(0)
    listed = listed_methods(["eader", "adl"])
    trained = build_networks(listed, make_classifier(), make_classifier)
    for network in (trained.localizer, trained.adversary):
        hooked = [block_at(network.backbone, s, b) for s, b in DEFAULT_POSITIONS["smallnet"]]
        assert all(len(block._forward_hooks) == 1 for block in hooked)

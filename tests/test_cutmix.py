"""CutMix: exactly the box pasted from the partner, targets mixed by the pasted area, the composed loss."""

import pytest
import torch
import torch.nn.functional as F

from wsss.methods.cutmix import cut_box, cutmix, draw_mix, kept_fraction, mix_targets, paste_box
from wsss.models.backbones import smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

torch.set_num_threads(1)

CLASSES = 5
# A float32 target lam * y_a + (1 - lam) * y_b with y in {0, 1} is at most three roundings (lam to
# float32, the products, the sum) of numbers <= 1: within 3 * 2^-24 < 2e-7 of the exact value.
TARGET_ATOL = 2e-7


def test_the_box_by_hand_clipped_and_not():
    # lam 0.75: sqrt(1 - lam) = 0.5, a 5 x 5 box of the 10 x 10 image starting at centre - 2
    assert cut_box(10, 10, 0.75, (5, 5)) == (3, 8, 3, 8)
    assert kept_fraction((3, 8, 3, 8), 10, 10) == 0.75
    # centred at row 1, column 8: rows -1..3 and columns 6..10 clip to rows 0..3, columns 6..9
    assert cut_box(10, 10, 0.75, (1, 8)) == (0, 4, 6, 10)
    assert kept_fraction((0, 4, 6, 10), 10, 10) == pytest.approx(1 - 16 / 100, abs=1e-15)
    assert cut_box(10, 20, 0.75, (0, 0)) == (0, 3, 0, 5)  # 5 x 10 from (-2, -5): rows 0..2, columns 0..4
    assert cut_box(10, 10, 1.0, (4, 4)) == (4, 4, 4, 4)  # lam 1: an empty box, nothing pasted
    assert kept_fraction((4, 4, 4, 4), 10, 10) == 1.0


def test_paste_box_replaces_exactly_the_box_with_the_partners():
    images = torch.arange(3 * 2 * 6 * 7, dtype=torch.float32).reshape(3, 2, 6, 7)
    original = images.clone()
    partner = torch.tensor([1, 2, 0])
    mixed = paste_box(images, partner, (1, 4, 2, 6))
    inside = torch.zeros(6, 7, dtype=torch.bool)
    inside[1:4, 2:6] = True
    for i, j in enumerate(partner.tolist()):
        assert torch.equal(mixed[i][:, inside], original[j][:, inside])
        assert torch.equal(mixed[i][:, ~inside], original[i][:, ~inside])
    assert torch.equal(images, original)


def test_mix_targets_by_hand():
    labels = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    mixed = mix_targets(labels, torch.tensor([1, 0]), 0.84)
    expected = torch.tensor([[0.84, 0.16, 0.16], [0.16, 0.84, 0.84]], dtype=torch.float64)
    torch.testing.assert_close(mixed.double(), expected, rtol=0, atol=TARGET_ATOL)
    same = mix_targets(torch.tensor([[1.0, 1.0]]), torch.tensor([0]), 0.3)  # a class of both: still 1
    torch.testing.assert_close(same.double(), torch.ones(1, 2, dtype=torch.float64), rtol=0, atol=TARGET_ATOL)


@pytest.mark.parametrize("seed", range(6))
def test_each_target_is_the_share_of_the_image_that_came_from_that_class(seed):
    # Image i is the constant i + 1 and has only class i: after CutMix, the pixels of value c + 1
    # are what came from class c, so each target must be the fraction of such pixels.
    batch, height, width = 5, 12, 16
    images = torch.arange(1, batch + 1, dtype=torch.float32).view(batch, 1, 1, 1).expand(batch, 3, height, width)
    labels = torch.eye(batch)
    torch.manual_seed(seed)
    mixed, targets = cutmix(images, labels, beta=1.0, prob=1.0)
    shares = torch.stack([(mixed[:, 0] == c + 1).double().mean(dim=(1, 2)) for c in range(batch)], dim=1)
    torch.testing.assert_close(targets.double(), shares, rtol=0, atol=TARGET_ATOL)
    # the pasted pixels form one box, the same in every image
    pasted = mixed[:, 0] != images[:, 0]
    rows, cols = pasted.any(dim=(0, 2)).nonzero(), pasted.any(dim=(0, 1)).nonzero()
    for i in range(batch):
        if pasted[i].any():
            box = pasted[i][rows.min():rows.max() + 1, cols.min():cols.max() + 1]
            assert box.all(), "the pasted region is not a box"
    assert torch.equal(mixed[:, 0], mixed[:, 1]) and torch.equal(mixed[:, 0], mixed[:, 2])


def test_prob_zero_leaves_the_batch():
    images, labels = torch.randn(4, 3, 8, 8), torch.eye(4)
    torch.manual_seed(0)
    same, targets = cutmix(images, labels, beta=1.0, prob=0.0)
    assert same is images and torch.equal(targets, labels)


def test_a_beta_that_is_not_positive_is_refused():
    with pytest.raises(ValueError, match="cutmix beta must be positive"):
        draw_mix(4, 8, 8, 0.0)


def make_classifier():
    return Classifier(smallnet(8, width=4), num_classes=CLASSES)


def mixed_draw(seed, images):
    """The (partner, box, lam) that cutmix draws after torch.manual_seed(seed), with prob 1."""
    torch.manual_seed(seed)
    torch.rand(())  # the "mix this batch?" draw
    return draw_mix(images.shape[0], images.shape[-2], images.shape[-1], 1.0)


def batch(multilabel):
    generator = torch.Generator().manual_seed(3)
    images = torch.randn(4, 3, 32, 32, generator=generator)
    labels = F.one_hot(torch.tensor([0, 3, 1, 4]), CLASSES).float()
    if multilabel:
        labels[0, 2] = labels[2, 4] = 1
    return images, labels


def composed_loss(model, images, labels, multilabel, seed):
    torch.manual_seed(seed)
    return classifier_loss(["cutmix"], multilabel=multilabel, cutmix={"beta": 1.0, "prob": 1.0})(
        model, (images, labels), Step(0, 1))


def mixed_step(seed, multilabel):
    """(model, images, labels, loss, parts, partner, lam, logits): the composed CutMix loss of a fixed
    batch under seed, the draw it made, and the model's logits on the batch it trained on."""
    torch.manual_seed(0)
    model = make_classifier()
    images, labels = batch(multilabel=multilabel)
    loss, parts = composed_loss(model, images, labels, multilabel, seed)
    partner, box, lam = mixed_draw(seed, images)
    return model, images, labels, loss, parts, partner, lam, model(paste_box(images, partner, box))


@pytest.mark.parametrize("seed", [0, 1])
def test_the_single_label_loss_is_cutmixs_two_weighted_cross_entropies(seed):
    model, images, labels, loss, parts, partner, lam, logits = mixed_step(seed, multilabel=False)
    assert 0.0 < lam < 1.0
    classes = labels.argmax(1)
    expected = lam * F.cross_entropy(logits, classes) + (1 - lam) * F.cross_entropy(logits, classes[partner])
    # both sides sum ~B * K float32 terms of one sign, O(1) each: a relative error of a few 1e-7
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=0)
    plain, _ = classifier_loss([], multilabel=False)(model, (images, labels), Step(0, 1))
    assert not torch.equal(loss, plain)
    assert set(parts) == {"cls"}


@pytest.mark.parametrize("seed", [0, 1])
def test_the_multilabel_loss_mixes_each_class_by_the_pasted_area(seed):
    model, images, labels, loss, _, partner, lam, logits = mixed_step(seed, multilabel=True)
    soft = lam * labels + (1 - lam) * labels[partner]
    assert torch.equal(loss, F.multilabel_soft_margin_loss(logits, soft))
    split = lam * F.multilabel_soft_margin_loss(logits, labels) + (1 - lam) * F.multilabel_soft_margin_loss(
        logits, labels[partner])
    torch.testing.assert_close(loss, split, rtol=1e-5, atol=0)  # linear in the targets (as above)
    plain, _ = classifier_loss(["cutmix"], cutmix={"beta": 1.0, "prob": 0.0})(model, (images, labels), Step(0, 1))
    assert torch.equal(plain, classifier_loss([])(model, (images, labels), Step(0, 1))[0])
    assert not torch.equal(loss, plain)

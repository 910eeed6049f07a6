"""Tests for wsss.refine.pairs: offsets, pair label sets, affinities and the affinity loss."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss.refine.pairs import (affinity_loss, neighbour_offsets, offset_distances, pair_affinities, pair_labels,
                               pair_origins, pair_valid)


def brute_force_offsets(radius):
    """All (dy, dx) != 0 with dy^2 + dx^2 < radius^2 in the half plane dy > 0 or (dy == 0, dx > 0)."""
    span = range(-radius, radius + 1)
    return {(dy, dx) for dy in span for dx in span
            if dy * dy + dx * dx < radius * radius and (dy > 0 or (dy == 0 and dx > 0))}


@pytest.mark.parametrize("radius, count", [(1, 0), (2, 4), (3, 12), (5, 34)])
def test_neighbour_offsets_counts_and_half_plane(radius, count):
    offsets = neighbour_offsets(radius)
    assert len(offsets) == count
    assert set(offsets) == brute_force_offsets(radius)
    assert len(set(offsets)) == len(offsets)
    # each unordered pair once: no offset together with its negation
    assert not any((-dy, -dx) in set(offsets) for dy, dx in offsets)


def test_neighbour_offsets_radius_two_by_hand():
    assert neighbour_offsets(2) == [(0, 1), (1, -1), (1, 0), (1, 1)]


LABELS = np.array([
    [0, 0, 1, 1],
    [0, 255, 1, 1],
    [0, 0, 2, 2],
    [0, 0, 2, 2],
], dtype=np.uint8)


def pair_kind_counts(label_pairs):
    """(fg_pos, bg_pos, neg) counts of (label a, label b) pairs; a pair touching 255 is not counted."""
    fg = bg = neg = 0
    for la, lb in label_pairs:
        if la == 255 or lb == 255:
            continue
        if la != lb:
            neg += 1
        elif la == 0:
            bg += 1
        else:
            fg += 1
    return fg, bg, neg


def brute_force_pairs(labels, radius):
    """(fg_pos, bg_pos, neg) counts over unordered in-image pixel pairs within the radius."""
    h, w = labels.shape
    pixels = [(y, x) for y in range(h) for x in range(w)]
    return pair_kind_counts(
        (int(labels[y0, x0]), int(labels[y1, x1]))
        for a, (y0, x0) in enumerate(pixels) for (y1, x1) in pixels[a + 1:]
        if (y1 - y0) ** 2 + (x1 - x0) ** 2 < radius * radius)


def test_pair_labels_radius_two_counts_by_hand():
    fg, bg, neg = pair_labels(LABELS, 2)
    assert fg.shape == bg.shape == neg.shape == (4, 4, 4)
    # radius 2 = 4-neighbours + diagonals. Class 1 block (2x2): 6 pairs; class 2 block: 6 pairs.
    assert int(fg.sum()) == 12
    # Background: pixels (0,0),(0,1),(1,0),(2,0),(2,1),(3,0),(3,1) -> pairs counted by hand:
    # (0,0)-(0,1), (0,0)-(1,0), (0,1)-(1,0), (1,0)-(2,0), (1,0)-(2,1), (2,0)-(2,1), (2,0)-(3,0),
    # (2,0)-(3,1), (2,1)-(3,0), (2,1)-(3,1), (3,0)-(3,1)  -> 11
    assert int(bg.sum()) == 11
    assert (int(fg.sum()), int(bg.sum()), int(neg.sum())) == brute_force_pairs(LABELS, 2)


@pytest.mark.parametrize("radius", [1, 2, 3, 4, 5])
def test_pair_labels_match_brute_force(radius):
    rng = np.random.default_rng(radius)
    labels = rng.choice([0, 3, 7, 255], size=(6, 7)).astype(np.uint8)
    fg, bg, neg = pair_labels(labels, radius)
    assert (int(fg.sum()), int(bg.sum()), int(neg.sum())) == brute_force_pairs(labels, radius)
    assert not (fg & bg).any() and not (fg & neg).any() and not (bg & neg).any()
    valid = pair_valid(6, 7, radius)
    assert not ((fg | bg | neg) & ~valid).any()


def test_pair_labels_batched_torch_input():
    batch = torch.from_numpy(np.stack([LABELS, LABELS.T.copy()]))
    fg, bg, neg = pair_labels(batch, 3)
    assert fg.shape == (2, len(neighbour_offsets(3)), 4, 4)
    single = pair_labels(LABELS.T.copy(), 3)
    for batched, alone in zip((fg, bg, neg), single):
        assert torch.equal(batched[1], alone)


def test_pair_layout_entry_points_at_the_offset_partner():
    labels = np.full((3, 3), 255, np.uint8)
    labels[1, 1] = 4
    labels[2, 2] = 4  # partner of (1, 1) at offset (1, 1)
    fg, _, _ = pair_labels(labels, 2)
    p = neighbour_offsets(2).index((1, 1))
    expected = torch.zeros((4, 3, 3), dtype=torch.bool)
    expected[p, 1, 1] = True
    assert torch.equal(fg, expected)


def test_pair_affinities_values_and_invalid_entries():
    features = torch.zeros((1, 2, 2, 2))
    features[0, :, 0, 1] = torch.tensor([1.0, 3.0])  # pixel (0, 1) differs by mean |.| = 2
    aff = pair_affinities(features, 2)
    offsets = neighbour_offsets(2)
    assert aff.shape == (1, 4, 2, 2)
    # pair (0,0)-(0,1): exp(-2); pair (0,0)-(1,0): exp(0) = 1; pair (0,1)-(1,0): exp(-2)
    assert aff[0, offsets.index((0, 1)), 0, 0].item() == pytest.approx(math.exp(-2.0))
    assert aff[0, offsets.index((1, 0)), 0, 0].item() == pytest.approx(1.0)
    assert aff[0, offsets.index((1, -1)), 0, 1].item() == pytest.approx(math.exp(-2.0))
    # partners outside the map get 0
    assert torch.equal(aff[0][~pair_valid(2, 2, 2)], torch.zeros(int((~pair_valid(2, 2, 2)).sum())))


def autograd_pair_affinities(features, radius):
    """The same affinities through autograd's own slices: the reference for PairDistances."""
    valid = pair_valid(*features.shape[-2:], radius).to(features.dtype)
    return torch.exp(-offset_distances(features, radius)) * valid


@pytest.mark.parametrize("radius", [2, 5])
def test_pair_affinities_forward_and_gradient_equal_autograds(radius):
    torch.manual_seed(0)
    features = torch.randn((2, 6, 7, 9), dtype=torch.float64, requires_grad=True)
    weights = torch.rand((2, len(neighbour_offsets(radius)), 7, 9), dtype=torch.float64)
    ours = pair_affinities(features, radius)
    (ours * weights).sum().backward()
    grad, features.grad = features.grad, None
    reference = autograd_pair_affinities(features, radius)
    (reference * weights).sum().backward()
    assert torch.equal(ours, reference)  # the forward computes the same expressions
    # each gradient entry sums at most 2P terms (the pixel as origin and as partner), in another order:
    # 2P roundings of at most 2**-53 of a partial sum, in each of the two
    terms = 2 * len(neighbour_offsets(radius))  # each of magnitude <= 1, so every partial sum is <= terms
    assert torch.allclose(grad, features.grad, rtol=0, atol=2 * terms * terms * 2**-53)
    assert features.grad.abs().max() > 1e-3
    assert torch.autograd.gradcheck(lambda f: pair_affinities(f, radius), (features.detach().requires_grad_(),))


def test_affinity_loss_hand_values():
    aff = torch.tensor([0.5, 0.25, 0.8, 0.9, 0.1])
    fg = torch.tensor([True, True, False, False, False])
    bg = torch.tensor([False, False, True, False, False])
    neg = torch.tensor([False, False, False, True, True])
    loss, parts = affinity_loss(aff, fg, bg, neg)
    fg_loss = -(math.log(0.5) + math.log(0.25)) / 2
    bg_loss = -math.log(0.8)
    neg_loss = -(math.log(0.1) + math.log(0.9)) / 2
    assert parts["fg_pos"].item() == pytest.approx(fg_loss, rel=1e-5)
    assert parts["bg_pos"].item() == pytest.approx(bg_loss, rel=1e-5)
    assert parts["neg"].item() == pytest.approx(neg_loss, rel=1e-5)
    assert loss.item() == pytest.approx(fg_loss + bg_loss + 2 * neg_loss, rel=1e-5)
    assert int(parts["n_fg_pos"]) == 2 and int(parts["n_neg"]) == 2


def test_affinity_loss_empty_sets_and_extreme_affinities_are_safe():
    aff = torch.tensor([0.0, 1.0, 1.0], requires_grad=True)
    none = torch.zeros(3, dtype=torch.bool)
    loss, parts = affinity_loss(aff, none, none, none)
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(aff.grad, torch.zeros(3))
    # W = 0 in a positive set and W = 1 in the negative set: finite, floored at -log(1e-5)
    aff.grad = None
    loss, parts = affinity_loss(aff, torch.tensor([True, False, False]), none,
                                torch.tensor([False, True, False]))
    assert torch.isfinite(loss)
    assert parts["fg_pos"].item() == pytest.approx(-math.log(1e-5), rel=1e-5)
    loss.backward()
    assert torch.isfinite(aff.grad).all()


def test_psa_pair_origins_by_hand():
    # radius 3: PSA's valid crop drops the bottom 2 rows and the 2 columns at either side
    origins = pair_origins(6, 9, 3, "psa")
    expected = torch.zeros((6, 9), dtype=torch.bool)
    expected[0:4, 2:7] = True
    assert torch.equal(origins, expected)
    assert pair_origins(6, 9, 3, "all_in_image").all()
    with pytest.raises(ValueError):
        pair_origins(6, 9, 3, "psa_crop")


def brute_force_psa_pairs(labels, radius):
    """(fg_pos, bg_pos, neg) counts over pairs (a, b), b - a in the half plane, a in PSA's valid crop."""
    h, w = labels.shape
    reach = radius - 1
    return pair_kind_counts(
        (int(labels[y0, x0]), int(labels[y0 + dy, x0 + dx]))
        for y0 in range(h - reach) for x0 in range(reach, w - reach) for dy, dx in brute_force_offsets(radius))


@pytest.mark.parametrize("radius", [2, 3, 4])
def test_psa_pair_set_labels_match_brute_force_and_are_a_subset(radius):
    rng = np.random.default_rng(10 + radius)
    labels = rng.choice([0, 3, 7, 255], size=(8, 11)).astype(np.uint8)
    psa = pair_labels(labels, radius, "psa")
    everything = pair_labels(labels, radius, "all_in_image")
    assert tuple(int(m.sum()) for m in psa) == brute_force_psa_pairs(labels, radius)
    valid = pair_valid(8, 11, radius, pair_set="psa")
    for part, full in zip(psa, everything):
        assert torch.equal(part, full & valid)
    assert int(valid.sum()) < int(pair_valid(8, 11, radius).sum())


def test_pair_affinities_outside_the_psa_pair_set_are_zero():
    features = torch.randn((2, 3, 7, 9), generator=torch.Generator().manual_seed(0))
    valid = pair_valid(7, 9, 3, pair_set="psa")
    psa = pair_affinities(features, 3, "psa")
    assert torch.equal(psa[:, ~valid], torch.zeros_like(psa[:, ~valid]))
    assert torch.equal(psa[:, valid], pair_affinities(features, 3)[:, valid])


def test_psa_code_loss_hand_values():
    # train_aff.py:105-113: sums / (count + 1e-5) of -log(W + 1e-5) and -log(1 + 1e-5 - W), bg/4 + fg/4 + neg/2
    aff = torch.tensor([0.5, 0.25, 0.8, 0.9, 0.1], dtype=torch.float64)
    fg = torch.tensor([True, True, False, False, False])
    bg = torch.tensor([False, False, True, False, False])
    neg = torch.tensor([False, False, False, True, True])
    loss, parts = affinity_loss(aff, fg, bg, neg, form="psa_code")
    e = 1e-5
    fg_loss = -(math.log(0.5 + e) + math.log(0.25 + e)) / (2 + e)
    bg_loss = -math.log(0.8 + e) / (1 + e)
    neg_loss = -(math.log(1 + e - 0.9) + math.log(1 + e - 0.1)) / (2 + e)
    assert parts["fg_pos"].item() == pytest.approx(fg_loss, rel=1e-14)
    assert parts["bg_pos"].item() == pytest.approx(bg_loss, rel=1e-14)
    assert parts["neg"].item() == pytest.approx(neg_loss, rel=1e-14)
    assert loss.item() == pytest.approx(bg_loss / 4 + fg_loss / 4 + neg_loss / 2, rel=1e-14)
    # without the 1e-5 guards the paper's loss is exactly 4x the code's
    paper, _ = affinity_loss(aff, fg, bg, neg, eps=0.0, form="paper")
    code, _ = affinity_loss(aff, fg, bg, neg, eps=0.0, form="psa_code")
    assert paper.item() == pytest.approx(4 * code.item(), rel=1e-14)
    with pytest.raises(ValueError):
        affinity_loss(aff, fg, bg, neg, form="psa")


def test_psa_code_loss_of_empty_sets_is_zero_and_finite():
    aff = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64, requires_grad=True)
    none = torch.zeros(3, dtype=torch.bool)
    loss, _ = affinity_loss(aff, none, none, none, form="psa_code")
    assert loss.item() == 0.0
    loss, _ = affinity_loss(aff, torch.tensor([True, False, False]), none, torch.tensor([False, True, False]),
                            form="psa_code")
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(aff.grad).all()

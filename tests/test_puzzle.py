"""Puzzle-CAM: tiling round trip, L_re on a tile-equivariant network, the alpha ramp, one training step."""

import pytest
import torch
from torch import nn

from wsss.methods.puzzle import alpha_schedule, merge, puzzle_maps, reconstruction_loss, tile
from wsss.models.backbones import Backbone, smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

torch.set_num_threads(2)


@pytest.mark.parametrize("grid", [(2, 2), (1, 3), (3, 2)])
def test_tile_then_merge_is_exact(grid):
    images = torch.randn(2, 3, 12, 18)
    tiles = tile(images, grid)
    assert tiles.shape == (2 * grid[0] * grid[1], 3, 12 // grid[0], 18 // grid[1])
    assert torch.equal(merge(tiles, grid), images)


def test_tile_order_is_row_major_per_image():
    images = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    tiles = tile(images, (2, 2))
    # tile (row 0, col 1) of image 1 is the 3rd group of the batch, second image
    assert torch.equal(tiles[2 + 1], images[1, :, :2, 2:])


def test_tile_rejects_sizes_the_grid_does_not_divide():
    with pytest.raises(ValueError, match="not divisible"):
        tile(torch.zeros(1, 3, 10, 10), (3, 3))


def one_by_one_classifier(num_classes=4):
    """A tile-equivariant CAM network: one 1x1 conv stage, no padding effects."""
    stage = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU())
    return Classifier(Backbone("pointwise", [stage], [8], [1]), num_classes=num_classes)


def test_reconstruction_loss_is_zero_for_a_tile_equivariant_network():
    torch.manual_seed(0)
    model = one_by_one_classifier()
    images, labels = torch.randn(3, 3, 8, 8), torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 1, 1]]).float()
    cams, merged = puzzle_maps(model.class_maps, images, (2, 2))
    assert reconstruction_loss(cams, merged, labels).item() == pytest.approx(0.0, abs=1e-7)


def test_reconstruction_loss_counts_only_the_image_classes():
    cams = torch.zeros(1, 2, 2, 2)
    merged = torch.ones(1, 2, 2, 2)
    merged[0, 1] = 5.0
    # class 0 present (|0-1| = 1 on 4 pixels), class 1 absent; mean over all 8 entries
    assert reconstruction_loss(cams, merged, torch.tensor([[1.0, 0.0]])).item() == pytest.approx(4 / 8)
    assert reconstruction_loss(cams, merged, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(20 / 8)


def test_reconstruction_loss_is_positive_for_a_padded_network():
    torch.manual_seed(0)
    model = Classifier(smallnet(8), num_classes=4).eval()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        cams, merged = puzzle_maps(model.class_maps, images, (2, 2))
    assert reconstruction_loss(cams, merged, torch.ones(2, 4)).item() > 0


def test_alpha_ramps_linearly_to_its_maximum_over_half_the_training():
    assert alpha_schedule(0.0) == 0.0
    assert alpha_schedule(0.125) == pytest.approx(1.0)
    assert alpha_schedule(0.25) == pytest.approx(2.0)
    assert alpha_schedule(0.5) == pytest.approx(4.0)
    assert alpha_schedule(0.9) == pytest.approx(4.0)
    assert alpha_schedule(0.3, alpha_max=2.0, ramp=0.6) == pytest.approx(1.0)
    assert alpha_schedule(0.3, ramp=0.0) == 4.0


PUZZLE = {"grid": [2, 2], "alpha": 4.0, "ramp": 0.5, "p_cls": True, "re": True}


def test_puzzle_loss_has_its_three_terms_and_the_scheduled_alpha():
    torch.manual_seed(0)
    model = Classifier(smallnet(8), num_classes=20)
    images, labels = torch.randn(2, 3, 64, 64), torch.zeros(2, 20)
    labels[0, 3] = labels[1, 7] = 1
    loss, parts = classifier_loss(["puzzle"], puzzle=PUZZLE)(model, (images, labels), Step(25, 100))
    assert set(parts) == {"cls", "p_cls", "re", "alpha"}
    assert parts["alpha"] == pytest.approx(2.0)
    assert loss.item() == pytest.approx(parts["cls"] + parts["p_cls"] + 2.0 * parts["re"], rel=1e-5)
    _, without = classifier_loss(["puzzle"], puzzle={**PUZZLE, "p_cls": False, "re": False})(
        model, (images, labels), Step(25, 100))
    assert set(without) == {"cls"}


def test_one_puzzle_step_decreases_its_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = Classifier(smallnet(8), num_classes=20).train()
    images, labels = torch.randn(4, 3, 64, 64), torch.zeros(4, 20)
    labels[torch.arange(4), torch.tensor([1, 5, 5, 9])] = 1
    loss_fn = classifier_loss(["puzzle"], puzzle=PUZZLE)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    step = Step(80, 100)  # alpha at its maximum: all three terms active
    before, _ = loss_fn(model, (images, labels), step)
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    after, _ = loss_fn(model, (images, labels), step)
    assert after.item() < before.item()

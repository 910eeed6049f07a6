"""Hide-and-Seek: whole patches hidden with the dataset mean, about p of them, nothing at p = 0 or at inference."""

import math

import pytest
import torch

from wsss.data.transforms import normalise
from wsss.methods.base import METHODS, class_attention
from wsss.methods.hide_and_seek import hidden_patches, hide_patches, patch_mask
from wsss.models.backbones import IMAGENET_MEAN, IMAGENET_STD, smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

torch.set_num_threads(1)

CLASSES = 5


def small_batch(seed=0, size=32):
    """(4, 3, size, size) images and (4, 5) multi-hot labels."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(4, 3, size, size, generator=generator)
    labels = torch.zeros(4, CLASSES)
    labels[torch.arange(4), torch.tensor([0, 3, 1, 4])] = 1
    labels[0, 2] = 1
    return images, labels


def patch_states(original, hidden, patch):
    """Per image, per patch of the grid: 'hidden' (all channels 0), 'kept' (equal to the original) or 'mixed'."""
    height, width = original.shape[-2:]
    states = []
    for image in range(original.shape[0]):
        row = []
        for top in range(0, height, patch):
            for left in range(0, width, patch):
                window = (image, slice(None), slice(top, top + patch), slice(left, left + patch))
                if torch.all(hidden[window] == 0):
                    row.append("hidden")
                elif torch.equal(hidden[window], original[window]):
                    row.append("kept")
                else:
                    row.append("mixed")
        states.append(row)
    return states


def test_whole_patches_are_hidden_with_zero_in_every_channel_also_at_the_cut_off_edges():
    torch.manual_seed(0)
    images = torch.rand(6, 3, 20, 20) + 1.0  # no zeros: a 0 is a hidden pixel
    original = images.clone()
    hidden = hide_patches(images, 8, 0.5)  # a 3 x 3 grid; the last row and column are 4 pixels wide
    states = patch_states(images, hidden, 8)
    assert all(len(row) == 9 for row in states)
    assert not any("mixed" in row for row in states)
    flat = [s for row in states for s in row]
    assert "hidden" in flat and "kept" in flat
    assert len({tuple(row) for row in states}) > 1  # each image draws its own patches
    assert torch.equal(images, original)  # the input is untouched


def test_patch_mask_expands_each_flag_to_its_patch():
    patches = torch.tensor([[[True, False], [False, True]]])  # one image, 2 x 2 grid of 3-px patches
    mask = patch_mask(patches, 5, 6, 3)  # the bottom row of patches is cut to 2 pixels
    expected = torch.zeros(1, 1, 5, 6, dtype=torch.bool)
    expected[0, 0, :3, :3] = True
    expected[0, 0, 3:, 3:] = True
    assert torch.equal(mask, expected)


def test_about_p_of_the_patches_are_hidden():
    # 200 images x a 5 x 5 grid = 5000 patches, each hidden independently with p: the count is
    # Binomial(5000, p); 5 standard deviations either side fail with probability below 6e-7.
    torch.manual_seed(1)
    for p in (0.3, 0.5):
        images = torch.rand(200, 3, 40, 40) + 1.0
        hidden = hide_patches(images, 8, p)
        count = (hidden[:, 0].reshape(200, 5, 8, 5, 8) == 0).all(dim=4).all(dim=2).sum().item()
        n = 200 * 25
        assert abs(count - n * p) <= 5 * math.sqrt(n * p * (1 - p)), (p, count)


def test_the_draws_are_independent_per_patch():
    # Over 4000 images of a 2 x 1 grid, both patches hidden ~ Binomial(4000, p^2) with p = 0.5:
    # mean 1000, sd 27.4; dependent draws (one per image) would give 2000.
    torch.manual_seed(2)
    flags = hidden_patches(4000, 2, 1, 1, 0.5)
    both = (flags[:, 0, 0] & flags[:, 1, 0]).sum().item()
    assert abs(both - 1000) <= 5 * math.sqrt(4000 * 0.25 * 0.75)


def test_p_zero_leaves_the_images_and_p_one_hides_everything():
    images = torch.rand(3, 3, 16, 16) + 1.0
    assert torch.equal(hide_patches(images, 4, 0.0), images)
    assert torch.equal(hide_patches(images, 4, 1.0), torch.zeros_like(images))


def test_hidden_pixels_take_the_value_of_the_padding_the_dataset_mean():
    pixels = torch.full((1, 3, 8, 8), 200, dtype=torch.uint8)
    valid = torch.ones(1, 8, 8, dtype=torch.bool)
    valid[:, :, 6:] = False  # crop padding: normalise sets it to 0, the mean colour
    images = normalise(pixels, IMAGENET_MEAN, IMAGENET_STD, valid)
    assert (images[..., :6] != 0).all() and (images[..., 6:] == 0).all()
    hidden = hide_patches(images, 4, 1.0)
    padding = images[:, :, :1, 7:8]  # (1, 3, 1, 1): the value of a padded pixel in each channel
    assert torch.equal(hidden, padding.expand_as(images))


def test_the_memory_format_is_kept():
    images = (torch.rand(2, 3, 8, 8) + 1.0).contiguous(memory_format=torch.channels_last)
    assert hide_patches(images, 4, 0.5).is_contiguous(memory_format=torch.channels_last)


def test_a_patch_size_below_one_pixel_is_refused():
    with pytest.raises(ValueError, match="patch_size must be at least 1 pixel"):
        hide_patches(torch.zeros(1, 3, 4, 4), 0, 0.5)


def make_classifier():
    return Classifier(smallnet(8, width=4), num_classes=CLASSES)


@pytest.mark.parametrize("multilabel", [True, False])
def test_the_composed_loss_trains_on_the_hidden_batch(multilabel):
    torch.manual_seed(0)
    model = make_classifier()
    images, labels = small_batch()
    if not multilabel:
        labels = torch.nn.functional.one_hot(labels.argmax(1), CLASSES).float()
    settings = {"patch_size": 8, "hide_probability": 0.5}
    torch.manual_seed(5)
    loss, parts = classifier_loss(["hide_and_seek"], multilabel=multilabel, hide_and_seek=settings)(
        model, (images, labels), Step(0, 1))
    torch.manual_seed(5)
    expected_images = hide_patches(images, 8, 0.5)
    plain = classifier_loss([], multilabel=multilabel)
    assert torch.equal(loss, plain(model, (expected_images, labels), Step(0, 1))[0])
    assert not torch.equal(loss, plain(model, (images, labels), Step(0, 1))[0])
    assert set(parts) == {"cls"}


def test_inference_hides_nothing_and_draws_nothing():
    torch.manual_seed(0)
    model = make_classifier().eval()
    images = small_batch()[0]
    assert not METHODS["hide_and_seek"].attention_choice
    state = torch.get_rng_state()
    with torch.no_grad():
        maps = class_attention(model, images, "cam")
        assert torch.equal(maps, model.class_maps(images))
    assert torch.equal(torch.get_rng_state(), state)

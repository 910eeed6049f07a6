"""Hide-and-Seek (Singh & Lee, ICCV 2017): train on images with random square patches hidden.

Each training image is divided into a grid of patch_size x patch_size pixel patches, starting at its
top-left pixel (the patches of the last row and column are cut off where the image ends), and every
patch is hidden independently with probability hide_probability. A hidden patch takes the mean
pixel of the training data; the localizer's batch is normalised ((x / 255 - mean) / std,
wsss.data.transforms.normalise), so that value is 0 in every channel, the value that crop padding
already has. With the most discriminative part hidden now and then, the classifier has to learn
from the other parts of the object too. Nothing is hidden at inference: the method changes only the
batch of the localizer's training step, so the CAMs come from the plain classifier.

Defaults:
- hide_probability 0.5: the paper's p_hide, and wsolevaluation's config.py (`--has_drop_rate`,
  default 0.5; wsol/method/has.py hides a patch when random.random() <= drop_rate).
- patch_size 32: one of the patch sizes the paper trains with on 224-px crops (S in 16, 32, 44, 56).
  wsolevaluation's config.py has `--has_grid_size` default 4, in pixels (wsol/method/has.py steps
  through the image in strides of grid_size); the wsolevaluation study tunes it per dataset.
The patches are drawn from torch's global generator, which the training loop checkpoints.
"""

from __future__ import annotations

import torch

from .base import ClassifierMethod, register


def hidden_patches(batch: int, height: int, width: int, patch_size: int, probability: float) -> torch.Tensor:
    """(batch, ceil(H / S), ceil(W / S)) bool: which patch of each image is hidden, each True with the
    given probability, independently (torch's global generator, on the CPU)."""
    if patch_size < 1:
        raise ValueError(f"hide_and_seek patch_size must be at least 1 pixel, got {patch_size}")
    rows, cols = -(-height // patch_size), -(-width // patch_size)
    return torch.rand(batch, rows, cols) < probability


def patch_mask(patches: torch.Tensor, height: int, width: int, patch_size: int) -> torch.Tensor:
    """(B, rows, cols) patch flags -> (B, 1, H, W) pixel flags: each flag covers its S x S patch,
    cut off at the image's bottom and right edges."""
    pixels = patches.repeat_interleave(patch_size, dim=1).repeat_interleave(patch_size, dim=2)
    return pixels[:, None, :height, :width]


def hide(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """images (B, C, H, W), normalised, with the pixels where mask (B, 1, H, W) is True set to 0 (the
    dataset mean) in every channel. A new tensor, in the images' memory format."""
    hidden = images.masked_fill(mask.to(images.device), 0.0)
    if images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last):
        hidden = hidden.contiguous(memory_format=torch.channels_last)  # (masked_fill gives NCHW)
    return hidden


def hide_patches(images: torch.Tensor, patch_size: int, probability: float) -> torch.Tensor:
    """images (B, C, H, W), normalised, with each S x S patch of each image hidden (set to 0) with the
    given probability."""
    batch, _, height, width = images.shape
    patches = hidden_patches(batch, height, width, patch_size, probability)
    return hide(images, patch_mask(patches, height, width, patch_size))


@register("hide_and_seek")
class HideAndSeek(ClassifierMethod):
    """The localizer's step trains on its batch with random patches hidden; the labels stay."""

    defaults = {"patch_size": 32, "hide_probability": 0.5}

    def transform_batch(self, images, labels, step):
        return hide_patches(images, self.settings["patch_size"], self.settings["hide_probability"]), labels

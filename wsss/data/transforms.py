"""Training augmentation (random rescale, crop, flip) on numpy arrays, and input normalisation in torch."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from .classes import IGNORE_INDEX


def rescale(image: np.ndarray, scale: float, mask: np.ndarray | None = None, resample=Image.BILINEAR):
    """Resize an (H, W, 3) uint8 image by a factor to (round(H s), round(W s)), at least 1 pixel, with
    PIL's resample filter (bilinear; bicubic for the PSA / IRN CAM inputs), and its mask by nearest."""
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = np.asarray(Image.fromarray(image).resize(size, resample))
    if mask is not None:
        mask = np.asarray(Image.fromarray(mask).resize(size, Image.NEAREST))
    return image, mask


def random_crop(image: np.ndarray, crop: int, rng: np.random.Generator, mask: np.ndarray | None = None):
    """A crop x crop window at a random place; smaller images are padded (image 0, mask 255).

    Returns the cropped image, mask and a (crop, crop) bool array marking the real-image pixels.
    """
    height, width = image.shape[:2]
    pad_h, pad_w = max(crop - height, 0), max(crop - width, 0)
    top_pad, left_pad = rng.integers(0, pad_h + 1), rng.integers(0, pad_w + 1)
    y0, x0 = rng.integers(0, max(height - crop, 0) + 1), rng.integers(0, max(width - crop, 0) + 1)
    out = np.zeros((crop, crop, 3), dtype=image.dtype)
    valid = np.zeros((crop, crop), dtype=bool)
    window = image[y0:y0 + crop, x0:x0 + crop]
    h, w = window.shape[:2]
    out[top_pad:top_pad + h, left_pad:left_pad + w] = window
    valid[top_pad:top_pad + h, left_pad:left_pad + w] = True
    if mask is not None:
        out_mask = np.full((crop, crop), IGNORE_INDEX, dtype=mask.dtype)
        out_mask[top_pad:top_pad + h, left_pad:left_pad + w] = mask[y0:y0 + crop, x0:x0 + crop]
        mask = out_mask
    return out, mask, valid


def augment(image, rng: np.random.Generator, *, crop: int, scale_range=(0.7, 1.3), flip: bool = True, mask=None):
    """Random rescale in scale_range, random horizontal flip, random crop (IRN-style)."""
    image, mask = rescale(image, rng.uniform(*scale_range), mask)
    if flip and rng.random() < 0.5:
        image = image[:, ::-1]
        mask = mask[:, ::-1] if mask is not None else None
    return random_crop(np.ascontiguousarray(image), crop, rng,
                       None if mask is None else np.ascontiguousarray(mask))


def normalise(images: torch.Tensor, mean, std, valid: torch.Tensor | None = None) -> torch.Tensor:
    """(..., 3, H, W) uint8 images -> float32 (x / 255 - mean) / std per channel, on the images' device;
    pixels where valid (..., H, W) is False (crop padding) are 0. The memory format follows the input.

    Each operation is one correctly rounded float32 division or subtraction, so the CPU and a CUDA device
    give the same bits, and a batch normalised on the device equals its images normalised one by one.
    """
    shape = (3, 1, 1)
    mean = torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape)
    std = torch.tensor(std, dtype=torch.float32, device=images.device).view(shape)
    array = (images.float() / 255.0 - mean) / std
    if valid is not None:
        array = array.masked_fill(~valid.unsqueeze(-3), 0.0)
    if images.dim() == 4 and images.is_contiguous(memory_format=torch.channels_last):
        array = array.contiguous(memory_format=torch.channels_last)  # (masked_fill gives NCHW)
    return array


def crop_tensors(image: np.ndarray, valid: np.ndarray | None = None):
    """(H, W, 3) uint8 -> (3, H, W) uint8 tensor, and the (H, W) bool valid mask (all True when None),
    as the training loader ships them: a quarter of float32's bytes, normalised on the device."""
    pixels = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    valid = np.ones(image.shape[:2], dtype=bool) if valid is None else valid
    return pixels, torch.from_numpy(np.ascontiguousarray(valid))


def to_tensor(image: np.ndarray, mean, std, valid: np.ndarray | None = None) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 normalised (normalise); padded pixels (valid False) set to 0."""
    pixels, valid = crop_tensors(image, valid)
    return normalise(pixels, mean, std, valid).contiguous()

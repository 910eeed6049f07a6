"""Label masks from per-pixel scores: (K+1, h, w) scores of the background and the image's classes,
upsampled to the image and argmaxed, or normalised to probabilities for the dense CRF. Shared by the
random walk's and the CAMs' pseudo masks."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..io.png import write_label_png
from .crf_workers import MaskWriter, crf_mask


def upsampled(image: np.ndarray, scores: torch.Tensor) -> torch.Tensor:
    """(K+1, h, w) scores -> (K+1, H, W) at the image's size, bilinear."""
    return F.interpolate(scores[None].float(), size=image.shape[:2], mode="bilinear", align_corners=False)[0]


def upsampled_probabilities(image: np.ndarray, scores: torch.Tensor) -> np.ndarray:
    """(K+1, h, w) scores -> (K+1, H, W) probabilities at the image: bilinear, clamped at 0, normalised."""
    probs = upsampled(image, scores).clamp(min=0).cpu().numpy()
    return probs / np.maximum(probs.sum(0, keepdims=True), 1e-5)


def scores_to_mask(image: np.ndarray, scores: torch.Tensor, keys: np.ndarray, crf: dict | None) -> np.ndarray:
    """Upsample (K+1, h, w) scores to the image, optionally dCRF them, argmax -> (H, W) labels 0/keys."""
    values = np.concatenate([[0], keys]).astype(np.uint8)
    if crf is not None:
        return crf_mask(image, upsampled_probabilities(image, scores), crf, values)
    return values[upsampled(image, scores).argmax(0).cpu().numpy()]


def write_mask(masks: MaskWriter, path, image: np.ndarray, scores: torch.Tensor, keys: np.ndarray,
               crf: dict | None) -> None:
    """scores_to_mask's PNG at path; with the dCRF, through masks (its worker processes)."""
    if crf is None:
        write_label_png(path, scores_to_mask(image, scores, keys, None))
    else:
        masks.write(path, image, upsampled_probabilities(image, scores), crf, np.concatenate([[0], keys]))

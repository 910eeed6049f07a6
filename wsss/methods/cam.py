"""Class activation maps (Zhou et al., CVPR 2016) and the formulas built on them.

A CAM for class c is the classifier's 1x1 head applied to the last feature map, before pooling:
CAM_c(x) = w_c^T f(x). Here it is ReLU'd and max-normalised per class, as in PSA / IRN.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .gradcam import class_attention

EPS = 1e-5


def max_normalise(cams: torch.Tensor) -> torch.Tensor:
    """ReLU, then divide each map by its own spatial maximum (+eps): values in [0, 1].

    cams: (..., H, W). A map that is zero everywhere stays zero (no division by zero).
    """
    cams = F.relu(cams)
    peak = cams.flatten(-2).amax(-1)[..., None, None]
    return cams / (peak + EPS)


def background_score(cams, alpha: float):
    """PSA background map: (1 - max_c CAM_c)^alpha, for (K, H, W) max-normalised CAMs.

    Works on numpy arrays and torch tensors. With no foreground map (K = 0) the background is 1.
    """
    if cams.shape[0] == 0:
        ones = np.ones if isinstance(cams, np.ndarray) else torch.ones
        return ones(cams.shape[1:], dtype=cams.dtype)
    peak = cams.max(0) if isinstance(cams, np.ndarray) else cams.max(0).values
    return (1.0 - peak) ** alpha


def cams_to_labels(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """Argmax over a constant background plane and the image's class maps -> (H, W) label map.

    cams: (K, H, W) max-normalised maps of the labelled classes; keys: (K,) class indices 1..20
    (mask values); threshold: the background plane's constant score.
    """
    height, width = cams.shape[1:]
    scores = np.concatenate([np.full((1, height, width), threshold, cams.dtype), cams], axis=0)
    index = np.concatenate([[0], np.asarray(keys, dtype=np.int64)])
    return index[scores.argmax(0)].astype(np.uint8)


def strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The (h, w) of a map at a network stride: ceil(H / stride), ceil(W / stride)."""
    return -(-size[0] // stride), -(-size[1] // stride)


@torch.inference_mode()
def multi_scale_class_maps(model, images: torch.Tensor, scales, flip: bool, out_sizes, attention: str = "cam"):
    """Sum over scales (and horizontal flips) of ReLU'd class maps, resampled to each size in out_sizes.

    images: (B, 3, H, W) normalised, all one size. attention: "cam" (the head on the features) or
    "gradcam" (wsss.methods.gradcam). Returns one (B, C, h, w) tensor per out size.
    """
    height, width = images.shape[-2:]
    batch = images.shape[0]
    totals = [None] * len(out_sizes)
    for scale in scales:
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        x = images if scale == 1.0 else F.interpolate(images, size=size, mode="bilinear", align_corners=False)
        if flip:
            x = torch.cat([x, x.flip(-1)])
        maps = F.relu(class_attention(model, x, attention))  # (B or 2B, C, h_s, w_s)
        if flip:
            maps = maps[:batch] + maps[batch:].flip(-1)
        for i, out_size in enumerate(out_sizes):
            resized = F.interpolate(maps, size=tuple(out_size), mode="bilinear", align_corners=False)
            totals[i] = resized if totals[i] is None else totals[i] + resized
    return totals


def image_cams(model, images: torch.Tensor, keys_per_image, *, scales, flip: bool, stride: int,
               attention: str = "cam"):
    """Max-normalised CAMs of each image's labelled classes, at network stride and image resolution.

    Returns a list (one per image) of (cam (K, h, w), high_res (K, H, W)) float32 numpy arrays.
    """
    size = tuple(images.shape[-2:])
    low, high = multi_scale_class_maps(model, images, scales, flip, [strided_size(size, stride), size], attention)
    out = []
    for b, keys in enumerate(keys_per_image):
        index = torch.as_tensor(np.asarray(keys, dtype=np.int64) - 1, device=images.device)
        out.append((max_normalise(low[b, index]).float().cpu().numpy(),
                    max_normalise(high[b, index]).float().cpu().numpy()))
    return out

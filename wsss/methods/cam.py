"""Class activation maps (Zhou et al., CVPR 2016) and the formulas built on them.

A CAM for class c is the classifier's 1x1 head applied to the last feature map, before pooling:
CAM_c(x) = w_c^T f(x). Here it is ReLU'd and max-normalised per class, as in PSA / IRN.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..data.transforms import rescale, to_tensor
from .base import ClassifierMethod, class_attention, register

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


def top_class(cams: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) highest class score and (H, W) uint8 class index (keys' value of the first maximum).

    cams: (K, H, W) maps of the labelled classes; keys: (K,) class indices 1..20. With K = 0 the
    score is -inf and the class 0, so that every threshold gives background.
    """
    if len(cams) == 0:
        return np.full(cams.shape[1:], -np.inf, cams.dtype), np.zeros(cams.shape[1:], np.uint8)
    return cams.max(0), np.asarray(keys, dtype=np.int64)[cams.argmax(0)].astype(np.uint8)


def labels_above(score: np.ndarray, label: np.ndarray, threshold: float) -> np.ndarray:
    """top_class's label where its score beats a constant background score, else 0 (a tie is background,
    as the argmax over [background plane, class maps] takes the first maximum)."""
    return np.where(score > score.dtype.type(threshold), label, 0).astype(np.uint8)


def cams_to_labels(cams: np.ndarray, keys: np.ndarray, threshold: float) -> np.ndarray:
    """Argmax over a constant background plane and the image's class maps -> (H, W) label map.

    cams: (K, H, W) max-normalised maps of the labelled classes; keys: (K,) class indices 1..20
    (mask values); threshold: the background plane's constant score. A threshold sweep calls
    top_class once and labels_above per threshold.
    """
    return labels_above(*top_class(cams, keys), threshold)


def strided_size(size: tuple[int, int], stride: int) -> tuple[int, int]:
    """The (h, w) of a map at a network stride: ceil(H / stride), ceil(W / stride)."""
    return -(-size[0] // stride), -(-size[1] // stride)


#: How CAM inference resizes (cams.resize), named after whose convention it is:
#: - "bilinear": each scale's input is the normalised image tensor resized bilinearly; each scale's
#:   maps are stretched bilinearly to (H, W) and to the network stride (this package's own).
#: - "psa": each scale's input is the uint8 image resized with PIL bicubic to (round(H s), round(W s)),
#:   then normalised (PSA voc12/data.py:102-108); the maps are stretched bilinearly to (H, W)
#:   (PSA infer_cls.py:63); the stored low-resolution maps are at the network stride.
#: - "irn": the input as for "psa" (IRN voc12/dataloader.py:192-198, misc/imutils.py:8-22); the maps
#:   are resized bilinearly to the next multiple of 16 and cropped to (H, W) (IRN step/make_cam.py:33,
#:   42-44) and the stored low-resolution maps are at stride 4 (step/make_cam.py:32, 38-40).
#:   Puzzle-CAM's inference_classification.py:129-178 does exactly the same (it is IRN's make_cam).
RESIZES = ("bilinear", "psa", "irn")
IRN_UP_STRIDE = 16  # IRN step/make_cam.py:33, PuzzleCAM inference_classification.py:162
IRN_CAM_STRIDE = 4  # IRN step/make_cam.py:32, PuzzleCAM inference_classification.py:161


def scaled_size(size: tuple[int, int], scale: float) -> tuple[int, int]:
    """(round(H s), round(W s)), at least 1 pixel: an input's size at a scale (Python's round, half to even,
    as IRN's np.round and PSA's / Puzzle-CAM's round)."""
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def bicubic_rescale(image: np.ndarray, scale: float) -> np.ndarray:
    """(H, W, 3) uint8 -> (round(H s), round(W s), 3) uint8 by PIL bicubic; scale 1 returns the image."""
    if scale == 1.0:
        return image
    return rescale(image, scale, resample=Image.BICUBIC)[0]


def scaled_inputs(images: torch.Tensor, scales, resize: str = "bilinear", originals=None, mean=None, std=None):
    """The network input at each scale: a list of (B, 3, h_s, w_s) normalised tensors.

    images: (B, 3, H, W) normalised. "bilinear" resizes them; "psa" and "irn" resize originals, the
    same images as (B, H, W, 3) uint8, with PIL bicubic and then normalise with mean and std.
    """
    if resize not in RESIZES:
        raise ValueError(f"unknown CAM resize {resize!r} (expected one of {', '.join(RESIZES)})")
    if resize == "bilinear":
        size = tuple(images.shape[-2:])
        return [images if scale == 1.0 else
                F.interpolate(images, size=scaled_size(size, scale), mode="bilinear", align_corners=False)
                for scale in scales]
    if originals is None:
        raise ValueError(f"CAM resize {resize!r} rescales the uint8 images: pass originals")
    return [torch.stack([to_tensor(bicubic_rescale(np.asarray(image), scale), mean, std) for image in originals])
            .to(images.device) for scale in scales]


def resize_maps(maps: torch.Tensor, size, up_stride: int | None = None) -> torch.Tensor:
    """(B, C, h, w) maps bilinearly resized to size (H, W); with up_stride, resized to the next multiples
    of up_stride (H', W') and cropped to the top-left (H, W) instead (IRN step/make_cam.py:42-44)."""
    size = tuple(size)
    if up_stride is None:
        return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    height, width = strided_size(size, up_stride)
    up = F.interpolate(maps, size=(height * up_stride, width * up_stride), mode="bilinear", align_corners=False)
    return up[..., :size[0], :size[1]]


@torch.inference_mode()
def summed_class_maps(model, inputs, flip: bool, out_sizes, attention: str = "cam", up_strides=None,
                      keep_raw: bool = False, channels=None):
    """Sum over the inputs (one per scale) and their horizontal flips of the ReLU'd class maps, each
    scale's resized to every size in out_sizes (with the matching entry of up_strides, see resize_maps).

    The flipped input's maps are flipped back and added at the network's resolution, then resized (IRN
    net/resnet50_cam.py:66-68, step/make_cam.py:38-44). channels: the class indices (0-based) to keep,
    or None for all; resizing is per channel, so keeping fewer gives the same values for those kept.
    Returns (one (B, C, h, w) tensor per out size, raw): raw is the same sum without the ReLU at the last
    out size, or None unless keep_raw.
    """
    up_strides = list(up_strides) if up_strides is not None else [None] * len(out_sizes)
    totals, raw = [None] * len(out_sizes), None
    for x in inputs:
        batch = x.shape[0]
        if flip:
            x = torch.cat([x, x.flip(-1)])
        maps = class_attention(model, x, attention)  # (B or 2B, C, h_s, w_s), raw
        if channels is not None:
            maps = maps[:, channels]
        if flip:
            maps = torch.stack([maps[:batch], maps[batch:].flip(-1)])  # (2, B, C, h_s, w_s)
        else:
            maps = maps[None]
        relu_sum = F.relu(maps).sum(0)
        for i, (out_size, up_stride) in enumerate(zip(out_sizes, up_strides)):
            resized = resize_maps(relu_sum, out_size, up_stride)
            totals[i] = resized if totals[i] is None else totals[i] + resized
        if keep_raw:
            resized = resize_maps(maps.sum(0), out_sizes[-1], up_strides[-1])
            raw = resized if raw is None else raw + resized
    return totals, raw


def multi_scale_class_maps(model, images: torch.Tensor, scales, flip: bool, out_sizes, attention: str = "cam"):
    """Sum over scales (and horizontal flips) of ReLU'd class maps, resampled to each size in out_sizes.

    images: (B, 3, H, W) normalised, all one size, resized bilinearly. attention: the cams.attention
    method whose maps are summed, "cam" (the head on the features) or "gradcam" (wsss.methods.gradcam;
    see wsss.methods.base.class_attention). Returns one (B, C, h, w) tensor per out size.
    """
    return summed_class_maps(model, scaled_inputs(images, scales), flip, out_sizes, attention)[0]


def image_cams(model, images: torch.Tensor, keys_per_image, *, scales, flip: bool, stride: int,
               attention: str = "cam", resize: str = "bilinear", originals=None, keep_raw: bool = False):
    """Max-normalised CAMs of each image's labelled classes, at a low resolution and at image resolution.

    images: (B, 3, H, W) normalised; originals: the same images as (B, H, W, 3) uint8, needed by the
    resizes that rescale them ("psa", "irn"; normalised with model.backbone's mean and std). The low
    resolution is the network stride, or stride 4 for "irn". Returns a list (one per image) of
    (cam (K, h, w), high_res (K, H, W)) float32 numpy arrays; with keep_raw, (cam, high_res, raw) where
    raw (K, H, W) is the multi-scale sum before ReLU and normalisation (wsolevaluation's score map;
    Grad-CAM maps carry their own ReLU, Eq. 2).
    """
    size = tuple(images.shape[-2:])
    mean = std = None
    if resize != "bilinear":
        mean, std = model.backbone.mean, model.backbone.std
    if resize == "irn":
        out_sizes, up_strides = [strided_size(size, IRN_CAM_STRIDE), size], [None, IRN_UP_STRIDE]
    else:
        out_sizes, up_strides = [strided_size(size, stride), size], [None, None]
    # only the batch's labelled classes are resized to (H, W): a few of the 20 (or 80) maps
    union = sorted({int(key) for keys in keys_per_image for key in keys})
    if not union:  # no image of the batch has a label: no maps, no rescaled inputs, no forward pass
        empty = (np.zeros((0, *out_sizes[0]), np.float32), np.zeros((0, *size), np.float32))
        return [empty + ((np.zeros((0, *size), np.float32),) if keep_raw else ()) for _ in keys_per_image]
    position = {key: i for i, key in enumerate(union)}
    channels = torch.as_tensor(np.asarray(union, dtype=np.int64) - 1, device=images.device)
    inputs = scaled_inputs(images, scales, resize, originals, mean, std)
    (low, high), raw = summed_class_maps(model, inputs, flip, out_sizes, attention, up_strides, keep_raw,
                                         channels)
    out = []
    for b, keys in enumerate(keys_per_image):
        index = torch.as_tensor([position[int(key)] for key in keys], dtype=torch.int64, device=images.device)
        entry = (max_normalise(low[b, index]).float().cpu().numpy(),
                 max_normalise(high[b, index]).float().cpu().numpy())
        if keep_raw:
            entry += (raw[b, index].float().cpu().numpy(),)
        out.append(entry)
    return out


@register("cam")
class CAM(ClassifierMethod):
    """cams.attention cam: the classifier's head on its last features (the base attention hook); its
    training is the empty classifier.methods list, L_cls alone."""

    trains = False
    attention_choice = True

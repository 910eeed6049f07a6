"""Puzzle-CAM (Jo & Yu, ICIP 2021): CAMs of image tiles, merged, must match the whole image's CAMs.

The image is cut into a grid of non-overlapping tiles; the tiles go through the same network; their
class maps are put back in place ("merged"). Loss = L_cls (whole image) + L_p-cls (GAP of the merged
map) + alpha * L_re, with L_re the L1 distance between the whole image's class maps and the merged
ones, counted only on the image's own classes (the reference implementation's 'masking' option).
alpha ramps linearly from 0 to its maximum over the first part of training. Inference uses no tiles.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import ClassifierMethod, classification_loss, register


def tile(images: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) -> (rows*cols*B, C, H/rows, W/cols): tile (r, c) of every image, tile-major.

    H and W must be divisible by the grid so that no pixel is lost or repeated.
    """
    rows, cols = grid
    height, width = images.shape[-2:]
    if height % rows or width % cols:
        raise ValueError(f"image size {height}x{width} is not divisible by the {rows}x{cols} puzzle grid")
    th, tw = height // rows, width // cols
    return torch.cat([images[..., r * th:(r + 1) * th, c * tw:(c + 1) * tw]
                      for r in range(rows) for c in range(cols)])


def merge(tiles: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """Inverse of tile(): (rows*cols*B, C, h, w) -> (B, C, rows*h, cols*w)."""
    rows, cols = grid
    pieces = tiles.chunk(rows * cols)
    return torch.cat([torch.cat(pieces[r * cols:(r + 1) * cols], dim=-1) for r in range(rows)], dim=-2)


def alpha_schedule(progress: float, alpha_max: float = 4.0, ramp: float = 0.5) -> float:
    """Weight of L_re: alpha_max * progress / ramp during the ramp, then alpha_max (progress in [0, 1])."""
    if ramp <= 0:
        return alpha_max
    return alpha_max * min(1.0, progress / ramp)


def reconstruction_loss(cams: torch.Tensor, merged: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """L_re: mean over all (B, C, h, w) of |cams - merged|, zeroed on classes absent from the image.

    cams, merged: (B, C, h, w) raw class maps; labels: (B, C) multi-hot. merged is resized to cams'
    size when the network's stride does not divide a tile (sizes differ by rounding).
    """
    if merged.shape[-2:] != cams.shape[-2:]:
        merged = F.interpolate(merged, size=cams.shape[-2:], mode="bilinear", align_corners=False)
    return ((cams - merged).abs() * labels[:, :, None, None]).mean()


def puzzle_maps(class_maps, images: torch.Tensor, grid: tuple[int, int]):
    """(whole-image class maps, merged tile class maps), both (B, C, h, w), from one network."""
    return class_maps(images), merge(class_maps(tile(images, grid)), grid)


@register("puzzle")
class Puzzle(ClassifierMethod):
    """+ L_p-cls + alpha(t) * L_re on the localizer's step; its tiles' maps come from the localizer."""

    defaults = {"grid": [2, 2], "alpha": 4.0, "ramp": 0.5, "p_cls": True, "re": True}

    def add_loss_terms(self, loss, forward, step):
        settings, parts = self.settings, {}
        grid = tuple(settings["grid"])
        merged = merge(forward.localizer.class_maps(tile(forward.images, grid)), grid)  # (B, K, h, w)
        if settings["p_cls"]:
            p_cls = classification_loss(merged.mean(dim=(2, 3)), forward.labels, self.multilabel)
            loss = loss + p_cls
            parts["p_cls"] = p_cls.item()
        if settings["re"]:
            alpha = alpha_schedule(step.progress, settings["alpha"], settings["ramp"])
            re = reconstruction_loss(forward.cams, merged, forward.labels)
            loss = loss + alpha * re
            parts.update(re=re.item(), alpha=alpha)
        return loss, parts

"""AffinityNet pixel pairs: neighbour offsets, pair labels, pair affinities and the affinity loss.

PSA (Ahn & Kwak, CVPR 2018), AffinityNet training. Pairs (i, j) are pixels of the feature map whose
Euclidean distance is below ``radius``; each unordered pair is counted once by taking offsets
j - i = (dy, dx) in a half plane (dy > 0, or dy == 0 and dx > 0).

Pair layout ("full grid"): every per-pair quantity has shape (..., P, h, w), where P is
len(neighbour_offsets(radius)); entry [..., p, y, x] is the pair (pixel (y, x), pixel
(y + dy_p, x + dx_p)). Entries whose partner falls outside the h x w map are invalid: they are
False in every label mask, 0 in the affinities, and False in ``pair_valid``. Unlike PSA's
"valid crop" (which drops the border pixels as pair origins) this keeps every in-image pair.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wsss.data.classes import IGNORE_INDEX, NUM_CLASSES

#: Floor inside the logarithms of the affinity loss (PSA's code adds 1e-5).
LOG_EPS = 1e-5


def neighbour_offsets(radius: int) -> list[tuple[int, int]]:
    """Half-plane offsets (dy, dx) != (0, 0) with dy^2 + dx^2 < radius^2 (PSA's pair set).

    Order: (0, 1), ..., (0, radius - 1), then rows dy = 1 .. radius - 1 with dx ascending (the
    order of PSA's code). radius 1 -> [], radius 2 -> 4 offsets, radius 5 -> 34 offsets.
    """
    reach = max(int(radius), 1) - 1
    offsets = [(0, dx) for dx in range(1, reach + 1) if dx * dx < radius * radius]
    for dy in range(1, reach + 1):
        offsets += [(dy, dx) for dx in range(-reach, reach + 1) if dy * dy + dx * dx < radius * radius]
    return offsets


def _pad_amount(radius: int) -> int:
    """Border (left, right, bottom) needed so every half-plane neighbour lies in the padded map."""
    return max(int(radius), 1) - 1


def _shifted(padded: torch.Tensor, offsets, h: int, w: int, pad: int) -> torch.Tensor:
    """Neighbour values for each offset: (..., H+pad, W+2pad) padded map -> (..., P, h, w)."""
    views = [padded[..., dy:dy + h, pad + dx:pad + dx + w] for dy, dx in offsets]
    if not views:
        return padded.new_zeros(padded.shape[:-2] + (0, h, w))
    return torch.stack(views, dim=-3)


def offsets_inside(h: int, w: int, offsets, device=None) -> torch.Tensor:
    """(h, w, Q) bool: True where pixel (y + dy, x + dx) lies inside the h x w map, per offset."""
    if not offsets:
        return torch.zeros((h, w, 0), dtype=torch.bool, device=device)
    dys, dxs = torch.tensor(offsets, dtype=torch.long, device=device).reshape(-1, 2).unbind(1)
    ys = torch.arange(h, device=device).reshape(h, 1, 1) + dys
    xs = torch.arange(w, device=device).reshape(1, w, 1) + dxs
    return ((ys >= 0) & (ys < h)) & ((xs >= 0) & (xs < w))


def pair_valid(h: int, w: int, radius: int, device=None) -> torch.Tensor:
    """(P, h, w) bool: True where the pair's partner pixel (y + dy, x + dx) lies inside the map."""
    return offsets_inside(h, w, neighbour_offsets(radius), device).permute(2, 0, 1)


def pair_labels(label_map, radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PSA pair sets from an affinity label map: (fg_pos, bg_pos, neg) bool masks (..., P, h, w).

    label_map: (..., h, w) ints (numpy or torch) with 0 background, 1..20 classes, 255 neutral.
    fg_pos: both pixels the same class in 1..20; bg_pos: both 0; neg: both confident (!= 255) and
    different. Pairs touching 255 or leaving the map are in none of the sets.
    """
    if torch.is_tensor(label_map):
        labels = label_map.long()
    else:
        labels = torch.from_numpy(np.asarray(label_map).astype(np.int64))
    h, w = labels.shape[-2:]
    pad = _pad_amount(radius)
    lead = labels.shape[:-2]
    flat = labels.reshape((-1, 1, h, w))
    # Padding with IGNORE_INDEX puts every out-of-map partner in no set at all.
    padded = F.pad(flat, (pad, pad, 0, pad), mode="constant", value=IGNORE_INDEX)
    padded = padded.reshape(lead + padded.shape[-2:])
    partner = _shifted(padded, neighbour_offsets(radius), h, w, pad)  # (..., P, h, w)
    origin = labels.unsqueeze(-3)  # (..., 1, h, w)
    confident = (origin != IGNORE_INDEX) & (partner != IGNORE_INDEX)
    same = origin == partner
    fg_pos = same & (origin >= 1) & (origin <= NUM_CLASSES)
    bg_pos = same & (origin == 0)
    neg = confident & ~same
    return fg_pos, bg_pos, neg


def pair_affinities(features: torch.Tensor, radius: int) -> torch.Tensor:
    """AffinityNet affinities W_ij = exp(-||f_i - f_j||_1 / C) (PSA): (B, C, h, w) -> (B, P, h, w).

    The distance is the channel mean of |f_i - f_j| (the L1 norm divided by C), as in PSA's code.
    Invalid pairs (partner outside the map) are set to 0. Differentiable.
    """
    b, c, h, w = features.shape
    pad = _pad_amount(radius)
    offsets = neighbour_offsets(radius)
    padded = F.pad(features, (pad, pad, 0, pad))
    affs = [
        torch.exp(-(features - padded[:, :, dy:dy + h, pad + dx:pad + dx + w]).abs().mean(1))
        for dy, dx in offsets
    ]  # P x (B, h, w)
    if not affs:
        return features.new_zeros((b, 0, h, w))
    valid = pair_valid(h, w, radius, device=features.device)
    return torch.stack(affs, dim=1) * valid.to(features.dtype)


def _set_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of values over a boolean mask (0 for an empty mask), and the mask's size."""
    count = mask.sum()
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / count.clamp(min=1).to(values.dtype), count


def affinity_loss(aff: torch.Tensor, fg_pos: torch.Tensor, bg_pos: torch.Tensor, neg: torch.Tensor,
                  eps: float = LOG_EPS) -> tuple[torch.Tensor, dict]:
    """PSA affinity loss L = L_fg+ + L_bg+ + 2 L- (PSA).

    L_fg+ = -mean_{P_fg+} log W, L_bg+ = -mean_{P_bg+} log W, L- = -mean_{P-} log(1 - W), each a
    mean over its own set across the whole batch; an empty set contributes 0. Logs are floored at
    log(eps). aff and the masks share one layout (e.g. (B, P, h, w)). PSA's training code uses
    L/4 (weights 1/4, 1/4, 1/2); a caller can rescale. parts holds the three terms and set sizes.
    """
    log_w = torch.log(aff.clamp(min=eps))
    log_not_w = torch.log((1.0 - aff).clamp(min=eps))
    fg_loss, n_fg = _set_mean(-log_w, fg_pos)
    bg_loss, n_bg = _set_mean(-log_w, bg_pos)
    neg_loss, n_neg = _set_mean(-log_not_w, neg)
    loss = fg_loss + bg_loss + 2.0 * neg_loss
    parts = {"fg_pos": fg_loss, "bg_pos": bg_loss, "neg": neg_loss,
             "n_fg_pos": n_fg, "n_bg_pos": n_bg, "n_neg": n_neg}
    return loss, parts

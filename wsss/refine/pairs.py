"""AffinityNet pixel pairs: neighbour offsets, pair sets, pair labels, pair affinities and the affinity loss.

PSA (Ahn & Kwak, CVPR 2018), AffinityNet training. Pairs (i, j) are pixels of the feature map whose
Euclidean distance is below ``radius``; each unordered pair is counted once by taking offsets
j - i = (dy, dx) in a half plane (dy > 0, or dy == 0 and dx > 0).

Pair layout ("full grid"): every per-pair quantity has shape (..., P, h, w), where P is
len(neighbour_offsets(radius)); entry [..., p, y, x] is the pair (pixel (y, x), pixel
(y + dy_p, x + dx_p)). Entries outside the pair set are invalid: they are False in every label
mask, 0 in the affinities, and False in ``pair_valid``. Two pair sets (``PAIR_SETS``):

- ``all_in_image``: every pair whose partner lies inside the h x w map.
- ``psa``: PSA's code, only pairs that start in its "valid crop", rows 0 .. h - r and columns
  r - 1 .. w - r (inclusive, r = radius) (psa tool/pyutils.py:137-146, voc12/data.py:138-147,
  infer_aff.py:28-32; IRN's PathIndex uses the same crop, irn misc/indexing.py:62-63, 85). Every
  partner of such a pixel is inside the map; a pair that starts in the bottom r - 1 rows or the
  r - 1 columns at either side is dropped even when both pixels are inside.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from wsss.data.classes import IGNORE_INDEX

#: Floor inside the logarithms of the affinity loss (PSA's code adds 1e-5).
LOG_EPS = 1e-5

#: The pair sets a pair layout can hold (see the module docstring).
PAIR_SETS = ("all_in_image", "psa")

#: The forms of the affinity loss (see ``affinity_loss``).
AFFINITY_LOSSES = ("paper", "psa_code")


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


def pair_origins(h: int, w: int, radius: int, pair_set: str = "all_in_image", device=None) -> torch.Tensor:
    """(h, w) bool: the pixels a pair of the pair set may start at (all of them, or PSA's valid crop)."""
    if pair_set == "all_in_image":
        return torch.ones((h, w), dtype=torch.bool, device=device)
    if pair_set == "psa":
        reach = _pad_amount(radius)
        ys = torch.arange(h, device=device).reshape(h, 1)
        xs = torch.arange(w, device=device).reshape(1, w)
        return (ys < h - reach) & (xs >= reach) & (xs < w - reach)
    raise ValueError(f"unknown pair set {pair_set!r} (expected one of {PAIR_SETS})")


def pair_valid(h: int, w: int, radius: int, device=None, pair_set: str = "all_in_image") -> torch.Tensor:
    """(P, h, w) bool: True where the pair is in the pair set (its partner inside the map, and for
    ``psa`` its start pixel in PSA's valid crop)."""
    inside = offsets_inside(h, w, neighbour_offsets(radius), device).permute(2, 0, 1)
    return inside & pair_origins(h, w, radius, pair_set, device)


def pair_labels(label_map, radius: int, pair_set: str = "all_in_image") -> tuple[torch.Tensor, torch.Tensor,
                                                                               torch.Tensor]:
    """PSA pair sets from an affinity label map: (fg_pos, bg_pos, neg) bool masks (..., P, h, w).

    label_map: (..., h, w) ints (numpy or torch) with 0 background, 1..K classes (VOC 20, COCO 80), 255 neutral.
    fg_pos: both pixels the same class in 1..K; bg_pos: both 0; neg: both confident (!= 255) and
    different (psa voc12/data.py:156-171). Pairs touching 255 or outside the pair set are in none.
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
    fg_pos = same & (origin >= 1) & (origin != IGNORE_INDEX)
    bg_pos = same & (origin == 0)
    neg = confident & ~same
    if pair_set != "all_in_image":  # the padding already drops pairs leaving the map
        valid = pair_valid(h, w, radius, device=labels.device, pair_set=pair_set)
        fg_pos, bg_pos, neg = fg_pos & valid, bg_pos & valid, neg & valid
    return fg_pos, bg_pos, neg


def offset_distances(features: torch.Tensor, radius: int) -> torch.Tensor:
    """d[b, p, y, x] = mean_c |f[b, c, y, x] - f[b, c, y + dy_p, x + dx_p]| for the half-plane offsets,
    with the map zero-padded right, left and below: (B, C, h, w) -> (B, P, h, w).

    Plain tensor operations: autograd differentiates them slice by slice (PairDistances computes the
    same values with a cheaper backward).
    """
    h, w = features.shape[-2:]
    pad = _pad_amount(radius)
    padded = F.pad(features, (pad, pad, 0, pad))
    distances = [(features - padded[:, :, dy:dy + h, pad + dx:pad + dx + w]).abs().mean(1)
                 for dy, dx in neighbour_offsets(radius)]  # P x (B, h, w)
    if not distances:
        return features.new_zeros((features.shape[0], 0, h, w))
    return torch.stack(distances, dim=1)


class PairDistances(torch.autograd.Function):
    """offset_distances with its own backward.

    Autograd through P slices of a padded map would allocate and zero a padded-size gradient per
    slice and keep the P difference tensors for the backward pass. This backward accumulates all P
    into one padded gradient and recomputes each difference instead: the same gradient up to the
    order of its additions, in 1/P of the memory.
    """

    @staticmethod
    def forward(ctx, features: torch.Tensor, radius: int) -> torch.Tensor:
        ctx.save_for_backward(features)
        ctx.radius = radius
        return offset_distances(features, radius)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (features,) = ctx.saved_tensors
        pad = _pad_amount(ctx.radius)
        h, w = features.shape[-2:]
        padded = F.pad(features, (pad, pad, 0, pad))
        total = torch.zeros_like(padded)
        centre = total[:, :, :h, pad:pad + w]
        scale = 1.0 / padded.shape[1]
        for p, (dy, dx) in enumerate(neighbour_offsets(ctx.radius)):
            partner = padded[:, :, dy:dy + h, pad + dx:pad + dx + w]
            # d mean_c |f_i - f_j| / d f_i = sgn(f_i - f_j) / C, and the negative for f_j
            share = (grad[:, p, None] * scale) * torch.sgn(features - partner)
            centre += share
            total[:, :, dy:dy + h, pad + dx:pad + dx + w] -= share
        return centre.clone(), None  # the padding's gradient is dropped


def pair_affinities(features: torch.Tensor, radius: int, pair_set: str = "all_in_image") -> torch.Tensor:
    """AffinityNet affinities W_ij = exp(-||f_i - f_j||_1 / C) (PSA): (B, C, h, w) -> (B, P, h, w).

    The distance is the channel mean of |f_i - f_j| (the L1 norm divided by C), as in PSA's code
    (network/resnet38_aff.py:58). Pairs outside the pair set are set to 0. Differentiable.
    """
    b, c, h, w = features.shape
    if not neighbour_offsets(radius):
        return features.new_zeros((b, 0, h, w))
    valid = pair_valid(h, w, radius, device=features.device, pair_set=pair_set)
    return torch.exp(-PairDistances.apply(features, radius)) * valid.to(features.dtype)


def _set_mean(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of values over a boolean mask (0 for an empty mask), and the mask's size."""
    count = mask.sum()
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / count.clamp(min=1).to(values.dtype), count


def _psa_code_set_mean(values: torch.Tensor, mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """sum over the mask of values / (mask size + eps), as PSA's train_aff.py:105-111 divides."""
    count = mask.sum()
    total = torch.where(mask, values, torch.zeros_like(values)).sum()
    return total / (count.to(values.dtype) + eps), count


def affinity_loss(aff: torch.Tensor, fg_pos: torch.Tensor, bg_pos: torch.Tensor, neg: torch.Tensor,
                  eps: float = LOG_EPS, form: str = "paper") -> tuple[torch.Tensor, dict]:
    """PSA affinity loss from the pair sets; aff and the masks share one layout (e.g. (B, P, h, w)).

    form "paper": L = L_fg+ + L_bg+ + 2 L- (PSA Eq. 3-6), with L_fg+ = -mean_{P_fg+} log W,
    L_bg+ = -mean_{P_bg+} log W, L- = -mean_{P-} log(1 - W), each a mean over its own set across
    the whole batch; an empty set contributes 0; logs are floored at log(eps).
    form "psa_code": PSA's train_aff.py:105-113, L = L_bg+ / 4 + L_fg+ / 4 + L- / 2 (a quarter of
    the paper's L, so a quarter of its SGD step), with the code's own guards: log(W + eps),
    log(1 + eps - W), and set sums divided by (set size + eps).
    parts holds the three terms and the set sizes.
    """
    if form == "paper":
        log_w = torch.log(aff.clamp(min=eps))
        log_not_w = torch.log((1.0 - aff).clamp(min=eps))
        fg_loss, n_fg = _set_mean(-log_w, fg_pos)
        bg_loss, n_bg = _set_mean(-log_w, bg_pos)
        neg_loss, n_neg = _set_mean(-log_not_w, neg)
        loss = fg_loss + bg_loss + 2.0 * neg_loss
    elif form == "psa_code":
        log_w = torch.log(aff + eps)
        log_not_w = torch.log(1.0 + eps - aff)
        fg_loss, n_fg = _psa_code_set_mean(-log_w, fg_pos, eps)
        bg_loss, n_bg = _psa_code_set_mean(-log_w, bg_pos, eps)
        neg_loss, n_neg = _psa_code_set_mean(-log_not_w, neg, eps)
        loss = bg_loss / 4 + fg_loss / 4 + neg_loss / 2
    else:
        raise ValueError(f"unknown affinity loss form {form!r} (expected one of {AFFINITY_LOSSES})")
    parts = {"fg_pos": fg_loss, "bg_pos": bg_loss, "neg": neg_loss,
             "n_fg_pos": n_fg, "n_bg_pos": n_bg, "n_neg": n_neg}
    return loss, parts

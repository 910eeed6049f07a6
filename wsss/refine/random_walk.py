"""PSA random walk with AffinityNet affinities, on the sparse radius-neighbourhood graph.

PSA (Ahn & Kwak, CVPR 2018), CAM revision by random walk: W^{o beta} is the affinity matrix raised
elementwise to beta (W_ii = 1 self loops), D its diagonal degree matrix. The paper writes
T = D^-1 W^{o beta} and vec(M*) = T^t vec(M); PSA's code uses the transpose, T = W^{o beta} D^-1
(columns sum to 1: trans_mat = aff / aff.sum(0)) and vec(M*) = vec(M) T^t, with t = 2^logt.
Both give the same maps since W is symmetric.

Layout: edge_affinity is (P, h, w) in the "full grid" layout of ``wsss.refine.pairs`` (entry
[p, y, x] is the affinity of pixel (y, x) and pixel (y + dy_p, x + dx_p); entries outside the pair
set are ignored). Maps are (C, h, w); pixel index = y * w + x. pair_set names the graph's edges
(``wsss.refine.pairs.PAIR_SETS``): "all_in_image", or "psa", the pairs that start in PSA's valid
crop (PSA's infer_aff.py builds its matrix from network/resnet38_aff.py:43-73, whose pairs are
tool/pyutils.py:get_indices_of_pairs). With the same pair set, beta, logt and inputs this walk
equals PSA's infer_aff.py:103-114 to rounding.

The sparse path never forms the (hw x hw) dense matrix: it stores R = D^-1 W^{o beta} (the
transpose of the code's T; rows sum to 1) as a CSR tensor and applies t sparse-dense products
X <- R X to the (hw, C) stack of all maps at once. The rows of R^t are convex weights, so every
refined value is a weighted average of the input values. Works on any torch device.
"""

from __future__ import annotations

import warnings

import torch

from wsss.refine.pairs import neighbour_offsets, offsets_inside, pair_valid


def _work_dtype(*tensors: torch.Tensor) -> torch.dtype:
    """float64 if any input is float64, else float32."""
    return torch.float64 if any(t.dtype == torch.float64 for t in tensors) else torch.float32


def pair_indices(h: int, w: int, radius: int, device=None,
                 pair_set: str = "all_in_image") -> tuple[torch.Tensor, torch.Tensor]:
    """Flat pixel indices (src, dst), each (E,), of the pair set's pairs in edge_affinity[pair_valid] order.

    For "psa" these are PSA's (tile(indices_from, P), indices_to) of tool/pyutils.py:125-159, in its order.
    """
    offsets = neighbour_offsets(radius)
    valid = pair_valid(h, w, radius, device=device, pair_set=pair_set)  # (P, h, w)
    src = torch.arange(h * w, device=device).reshape(1, h, w)
    step = torch.tensor([dy * w + dx for dy, dx in offsets], dtype=torch.long, device=device)
    dst = src + step.reshape(-1, 1, 1)  # (P, h, w)
    return src.expand_as(dst)[valid], dst[valid]


def _edges(edge_affinity: torch.Tensor, radius: int, beta: float, pair_set: str = "all_in_image"):
    """Symmetric edge list of W^{o beta} with unit self loops: (rows, cols, values), each (2E + n,)."""
    _, h, w = edge_affinity.shape
    n = h * w
    device = edge_affinity.device
    if edge_affinity.shape[0] != len(neighbour_offsets(radius)):
        raise ValueError(f"edge_affinity has {edge_affinity.shape[0]} offsets, radius {radius} "
                         f"needs {len(neighbour_offsets(radius))}")
    src, dst = pair_indices(h, w, radius, device=device, pair_set=pair_set)
    valid = pair_valid(h, w, radius, device=device, pair_set=pair_set)
    weight = edge_affinity.to(_work_dtype(edge_affinity))[valid] ** beta  # (E,)
    diag = torch.arange(n, device=device)
    rows = torch.cat([src, dst, diag])
    cols = torch.cat([dst, src, diag])
    values = torch.cat([weight, weight, torch.ones(n, dtype=weight.dtype, device=device)])
    return rows, cols, values


def _disk_weights(edge_affinity: torch.Tensor, radius: int, beta: float, pair_set: str = "all_in_image"):
    """Per-pixel weights of W^{o beta} over the whole disk of offsets, self loop included.

    Returns (offsets, weight, valid): the Q = 2P + 1 disk offsets sorted by (dy, dx) (so that
    y * w + x + dy * w + dx grows with the offset index when 2 (radius - 1) < w), and (h, w, Q)
    weight and validity maps, where [y, x, q] is the edge (pixel (y, x), (y + dy_q, x + dx_q)).
    valid marks every in-map entry; pairs outside the pair set are in it with weight 0.
    """
    n_offsets, h, w = edge_affinity.shape
    half = neighbour_offsets(radius)
    if n_offsets != len(half):
        raise ValueError(f"edge_affinity has {n_offsets} offsets, radius {radius} needs {len(half)}")
    device = edge_affinity.device
    pad = max(int(radius), 1) - 1
    # masked after the power, so that a pair outside the set weighs 0 for every beta (0^0 would be 1)
    weight = torch.where(pair_valid(h, w, radius, device=device, pair_set=pair_set),
                         edge_affinity.to(_work_dtype(edge_affinity)).pow(beta), 0.0)  # (P, h, w)
    # Pixel (y, x) sees pair p from the other end at partner (y - dy, x - dx): shift the maps back.
    padded = torch.nn.functional.pad(weight, (pad, pad, pad, 0))  # (P, pad + h, w + 2 pad)
    entries = {(0, 0): torch.ones((h, w), dtype=weight.dtype, device=device)}
    for p, (dy, dx) in enumerate(half):
        entries[(dy, dx)] = weight[p]
        entries[(-dy, -dx)] = padded[p, pad - dy:pad - dy + h, pad - dx:pad - dx + w]
    offsets = sorted(entries)
    valid = offsets_inside(h, w, offsets, device=device)  # (h, w, Q)
    return offsets, torch.stack([entries[o] for o in offsets], dim=-1), valid


def transition_matrix(edge_affinity: torch.Tensor, radius: int, beta: float = 8.0,
                      pair_set: str = "all_in_image") -> torch.Tensor:
    """R = D^-1 W^{o beta} (the paper's T, PSA code's T^T) as a sparse CSR (hw, hw) tensor; rows sum to 1.

    edge_affinity: (P, h, w) affinities in [0, 1]. Row i of R holds the weights with which one
    walk step averages the values of pixel i's neighbours (itself included) into pixel i.
    """
    _, h, w = edge_affinity.shape
    n = h * w
    with torch.no_grad():
        offsets, weight, valid = _disk_weights(edge_affinity, radius, beta, pair_set)  # (h, w, Q)
        weight /= weight.sum(-1, keepdim=True)  # D^-1 W: W is symmetric, so D = row sums
        index_dtype = torch.int32 if n * len(offsets) < 2**31 - 1 else torch.int64
        step = torch.tensor([dy * w + dx for dy, dx in offsets], dtype=index_dtype, device=weight.device)
        cols = torch.arange(n, dtype=index_dtype, device=weight.device).reshape(h, w, 1) + step
        # Row-major CSR: pixels in order, each pixel's entries in increasing column order, which
        # the (dy, dx) offset order gives whenever 2 (radius - 1) < w; narrower maps are sorted.
        keep = valid.reshape(-1).nonzero().squeeze(1)  # lighter than masked_select's buffers
        values = weight.reshape(-1)[keep]
        cols = cols.reshape(-1)[keep]
        del keep
        counts = valid.sum(-1).reshape(n)
        if 2 * (max(int(radius), 1) - 1) >= w:
            rows = torch.repeat_interleave(torch.arange(n, device=weight.device), counts)
            order = torch.argsort(rows * n + cols)
            values, cols = values[order], cols[order]
        crow = torch.zeros(n + 1, dtype=index_dtype, device=weight.device)
        crow[1:] = torch.cumsum(counts, 0)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
            return torch.sparse_csr_tensor(crow, cols, values, size=(n, n), check_invariants=False)


def random_walk(maps: torch.Tensor, edge_affinity: torch.Tensor, radius: int, beta: float = 8.0,
                logt: int = 8, pair_set: str = "all_in_image") -> torch.Tensor:
    """PSA random walk vec(M*) = vec(M) T^(2^logt), sparse: (C, h, w) maps -> (C, h, w). No gradients.

    All C maps (e.g. background + 20 classes) are propagated together, on maps' device.
    """
    c, h, w = maps.shape
    if edge_affinity.shape[-2:] != (h, w):
        raise ValueError(f"maps are {h}x{w} but edge_affinity is {tuple(edge_affinity.shape[-2:])}")
    with torch.no_grad():
        trans = transition_matrix(edge_affinity.to(maps.device, _work_dtype(maps, edge_affinity)),
                                  radius, beta, pair_set)
        state = maps.reshape(c, h * w).t().to(trans.dtype).contiguous()  # (hw, C)
        for _ in range(2 ** logt):
            state = torch.sparse.mm(trans, state)
        return state.t().reshape(c, h, w).to(maps.dtype if maps.is_floating_point() else trans.dtype)


def dense_transition_matrix(edge_affinity: torch.Tensor, radius: int, beta: float = 8.0,
                            pair_set: str = "all_in_image") -> torch.Tensor:
    """PSA's dense T = W^{o beta} D^-1 (hw, hw), columns summing to 1 (reference only: O((hw)^2) memory)."""
    _, h, w = edge_affinity.shape
    n = h * w
    rows, cols, values = _edges(edge_affinity, radius, beta, pair_set)
    affinity = torch.zeros((n, n), dtype=values.dtype, device=values.device)
    affinity[rows, cols] = values
    return affinity / affinity.sum(0, keepdim=True)


def dense_random_walk(maps: torch.Tensor, edge_affinity: torch.Tensor, radius: int, beta: float = 8.0,
                      logt: int = 8, pair_set: str = "all_in_image") -> torch.Tensor:
    """Reference PSA random walk as in PSA's code: square dense T logt times, then vec(M) T^t."""
    c, h, w = maps.shape
    with torch.no_grad():
        trans = dense_transition_matrix(edge_affinity.to(maps.device, _work_dtype(maps, edge_affinity)),
                                        radius, beta, pair_set)
        for _ in range(logt):
            trans = trans @ trans
        refined = maps.reshape(c, h * w).to(trans.dtype) @ trans
        return refined.reshape(c, h, w).to(maps.dtype if maps.is_floating_point() else trans.dtype)

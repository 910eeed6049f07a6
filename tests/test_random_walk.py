"""Tests for wsss.refine.random_walk: the sparse PSA random walk against its dense reference."""

import pytest
import torch

from wsss.refine.pairs import neighbour_offsets, pair_affinities, pair_valid
from wsss.refine.random_walk import (dense_random_walk, dense_transition_matrix, random_walk,
                                     transition_matrix)


def random_affinity(h, w, radius, seed=0, channels=4):
    """(P, h, w) affinities from random smooth-ish features, as AffinityNet would give."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn((1, channels, h, w), generator=generator)
    return pair_affinities(features, radius)[0]


def walk_error_bound(radius, logt, dtype, scale=1.0):
    """Worst-case rounding gap between two float walks that sum in different orders.

    One step is a convex combination of at most q = 2P + 1 values (self loop and both directions
    of every pair), so it rounds by at most q * u * max|x| (u: unit roundoff); the walk's rows
    are convex, so the errors of the t = 2^logt steps add up instead of growing. Two walks that
    differ only in summation order (another CPU's sparse kernel, a batched vs a single map) are
    then at most 2 t q u max|x| apart.
    """
    q = 2 * len(neighbour_offsets(radius)) + 1
    return 2 * 2 ** logt * q * torch.finfo(dtype).eps * scale


def test_two_pixel_walk_by_hand():
    # 1x2 map, radius 2: one pair (offset (0, 1)) with affinity 0.5; beta 2 -> W = [[1, .25], [.25, 1]]
    edge = torch.zeros((len(neighbour_offsets(2)), 1, 2))
    edge[neighbour_offsets(2).index((0, 1)), 0, 0] = 0.5
    maps = torch.tensor([[[1.0, 0.0]]])
    # T = W / column sums = [[.8, .2], [.2, .8]]; one step: [.8, .2]; T^2 = [[.68, .32], [.32, .68]]
    one = random_walk(maps, edge, 2, beta=2, logt=0)
    two = random_walk(maps, edge, 2, beta=2, logt=1)
    assert torch.allclose(one, torch.tensor([[[0.8, 0.2]]]), atol=1e-6)
    assert torch.allclose(two, torch.tensor([[[0.68, 0.32]]]), atol=1e-6)
    assert torch.allclose(dense_random_walk(maps, edge, 2, beta=2, logt=1), two, atol=1e-6)


def test_transition_matrix_is_row_stochastic_transpose_of_psa_t():
    # float64: a row or column of at most q entries sums to 1 within q * 2.2e-16
    edge = random_affinity(6, 5, 3).double()
    sparse = transition_matrix(edge, 3, beta=8)
    assert sparse.layout == torch.sparse_csr
    dense_r = sparse.to_dense()
    ones = torch.ones(30, dtype=torch.float64)
    assert torch.allclose(dense_r.sum(1), ones, rtol=0, atol=1e-13)
    psa_t = dense_transition_matrix(edge, 3, beta=8)
    assert torch.allclose(psa_t.sum(0), ones, rtol=0, atol=1e-13)
    assert torch.allclose(dense_r, psa_t.t(), rtol=0, atol=1e-13)
    # sparsity: self loop + both directions of every in-map pair
    assert sparse.values().numel() == 30 + 2 * int(pair_valid(6, 5, 3).sum())


def test_constant_map_stays_constant():
    edge = random_affinity(8, 7, 3, seed=1).double()
    maps = torch.full((2, 8, 7), 0.37, dtype=torch.float64)
    out = random_walk(maps, edge, 3, beta=8, logt=6)
    assert torch.allclose(out, maps, rtol=0, atol=walk_error_bound(3, 6, torch.float64))


def test_refined_values_stay_within_input_range():
    edge = random_affinity(9, 8, 4, seed=2).double()
    maps = torch.rand((3, 9, 8), generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 5 - 1
    out = random_walk(maps, edge, 4, beta=8, logt=8)
    low = maps.flatten(1).min(1).values[:, None, None]
    high = maps.flatten(1).max(1).values[:, None, None]
    slack = walk_error_bound(4, 8, torch.float64, scale=4.0)
    assert (out >= low - slack).all() and (out <= high + slack).all()


@pytest.mark.parametrize("logt", [0, 3, 8])
def test_sparse_matches_dense_on_small_graph(logt):
    edge = random_affinity(6, 5, 3, seed=4).double()
    maps = torch.rand((21, 6, 5), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    sparse = random_walk(maps, edge, 3, beta=8, logt=logt)
    dense = dense_random_walk(maps, edge, 3, beta=8, logt=logt)
    assert sparse.shape == dense.shape == (21, 6, 5)
    assert sparse.dtype == torch.float64
    assert (sparse - dense).abs().max().item() <= 1e-5


def test_float32_walk_is_close_to_float64_reference():
    # The float32 sparse walk rounds each of its t = 256 steps by at most q * u32 (walk_error_bound);
    # the matrix's own float32 rounding (relative q * u32 per entry, rows convex) adds as much again.
    edge = random_affinity(6, 5, 3, seed=4)
    maps = torch.rand((21, 6, 5), generator=torch.Generator().manual_seed(5))
    exact = dense_random_walk(maps.double(), edge.double(), 3, beta=8, logt=8)
    sparse = random_walk(maps, edge, 3, beta=8, logt=8)
    assert sparse.dtype == torch.float32
    gap = (sparse.double() - exact).abs().max().item()
    assert gap <= walk_error_bound(3, 8, torch.float32)
    # and the walk did move the maps far more than that: the comparison can fail
    assert (exact - maps.double()).abs().max().item() > 100 * walk_error_bound(3, 8, torch.float32)


@pytest.mark.parametrize("h, w, radius", [(1, 2, 2), (4, 3, 3), (3, 4, 5), (7, 4, 3)])
def test_narrow_maps_match_dense(h, w, radius):
    edge = random_affinity(h, w, radius, seed=12).double()
    maps = torch.rand((3, h, w), generator=torch.Generator().manual_seed(13), dtype=torch.float64)
    sparse = random_walk(maps, edge, radius, beta=8, logt=4)
    assert torch.allclose(sparse, dense_random_walk(maps, edge, radius, beta=8, logt=4), atol=1e-10)


def test_batch_of_maps_equals_maps_one_by_one():
    # float64: the sparse kernel may sum a (hw, 4) and a (hw, 1) product in different orders on
    # some CPUs; after 256 steps that gap is at most walk_error_bound (~2e-12 in float64).
    edge = random_affinity(7, 9, 5, seed=6).double()
    maps = torch.rand((4, 7, 9), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    batched = random_walk(maps, edge, 5)
    for c in range(4):
        single = random_walk(maps[c:c + 1], edge, 5)[0]
        assert torch.allclose(batched[c], single, rtol=0, atol=walk_error_bound(5, 8, torch.float64))


def test_invalid_edge_entries_are_ignored():
    edge = random_affinity(5, 6, 3, seed=8)
    noisy = edge.clone()
    noisy[~pair_valid(5, 6, 3)] = 0.9  # garbage where the partner is outside the map
    maps = torch.rand((2, 5, 6), generator=torch.Generator().manual_seed(9))
    # the invalid entries never reach the matrix, so both walks do the same arithmetic
    assert torch.equal(random_walk(maps, noisy, 3), random_walk(maps, edge, 3))


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError):
        random_walk(torch.rand((2, 5, 6)), random_affinity(6, 5, 3), 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_runs_on_cuda_and_matches_cpu():
    edge = random_affinity(12, 10, 5, seed=10)
    maps = torch.rand((21, 12, 10), generator=torch.Generator().manual_seed(11))
    on_gpu = random_walk(maps.cuda(), edge.cuda(), 5)
    assert on_gpu.device.type == "cuda"
    assert torch.allclose(on_gpu.cpu(), random_walk(maps, edge, 5), rtol=0,
                          atol=walk_error_bound(5, 8, torch.float32))


def sparse_dense_bound(h, w, radius, logt):
    """Gap bound between the sparse walk and the dense reference in float64: the sparse walk's
    (walk_error_bound) plus that of logt squarings of an n x n column-stochastic matrix, which gain
    at most 2^logt n eps in the 1-norm (n = h w)."""
    return walk_error_bound(radius, logt, torch.float64) + 2 ** logt * h * w * torch.finfo(torch.float64).eps


@pytest.mark.parametrize("h, w, radius", [(9, 12, 5), (6, 7, 3), (4, 3, 3)])
def test_psa_pair_set_sparse_matches_dense(h, w, radius):  # (4, 3, 3): an empty crop, no pair at all
    edge = random_affinity(h, w, radius, seed=14).double()
    maps = torch.rand((3, h, w), generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    sparse = random_walk(maps, edge, radius, beta=8, logt=8, pair_set="psa")
    dense = dense_random_walk(maps, edge, radius, beta=8, logt=8, pair_set="psa")
    assert torch.allclose(sparse, dense, rtol=0, atol=sparse_dense_bound(h, w, radius, 8))
    # the sparse matrix holds exactly the self loops and both directions of PSA's pairs
    matrix = transition_matrix(edge, radius, beta=8, pair_set="psa").to_dense()
    assert int((matrix != 0).sum()) == h * w + 2 * int(pair_valid(h, w, radius, pair_set="psa").sum())


def test_psa_pair_set_ignores_pairs_outside_it_for_every_beta():
    edge = random_affinity(7, 10, 3, seed=16).double()
    noisy = edge.clone()
    noisy[~pair_valid(7, 10, 3, pair_set="psa")] = 0.9  # in the map but outside PSA's crop
    maps = torch.rand((2, 7, 10), generator=torch.Generator().manual_seed(17), dtype=torch.float64)
    for beta in (8, 0):  # beta 0: every pair in the set weighs 1, every other one still 0
        walked = random_walk(maps, noisy, 3, beta=beta, logt=3, pair_set="psa")
        assert torch.equal(walked, random_walk(maps, edge, 3, beta=beta, logt=3, pair_set="psa"))
        assert torch.allclose(walked, dense_random_walk(maps, edge, 3, beta=beta, logt=3, pair_set="psa"),
                              rtol=0, atol=sparse_dense_bound(7, 10, 3, 3))
    assert not torch.allclose(random_walk(maps, edge, 3, pair_set="psa"), random_walk(maps, edge, 3), atol=1e-3)

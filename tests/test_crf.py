"""Tests for wsss.refine.crf: dense CRF marginals and the label CRF."""

import numpy as np
import pytest

from wsss.refine.crf import crf_inference, crf_on_labels, label_unary


def two_region_image(h=24, w=20):
    """Dark left half, bright right half, uint8 (h, w, 3)."""
    image = np.full((h, w, 3), 40, np.uint8)
    image[:, w // 2:] = 200
    return image


def test_marginals_are_probabilities():
    rng = np.random.default_rng(0)
    probs = rng.random((3, 24, 20)).astype(np.float32)
    probs /= probs.sum(0, keepdims=True)
    out = crf_inference(two_region_image(), probs)
    assert out.shape == (3, 24, 20) and out.dtype == np.float32
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)


def test_confident_unary_stays_the_argmax():
    probs = np.full((3, 24, 20), 0.05, np.float32)
    probs[2] = 0.9  # class 2 everywhere, very confident
    out = crf_inference(two_region_image(), probs)
    assert (out.argmax(0) == 2).all()


def test_crf_follows_image_edges():
    # Left half says class 0 confidently, right half class 1, with a few contrary noisy pixels.
    image = two_region_image()
    probs = np.zeros((2, 24, 20), np.float32)
    probs[0, :, :10], probs[1, :, :10] = 0.8, 0.2
    probs[0, :, 10:], probs[1, :, 10:] = 0.2, 0.8
    probs[:, 5, 3] = [0.45, 0.55]
    out = crf_inference(image, probs).argmax(0)
    expected = np.zeros((24, 20), np.int64)
    expected[:, 10:] = 1
    np.testing.assert_array_equal(out, expected)


def test_non_contiguous_inputs_are_accepted():
    image = np.ascontiguousarray(two_region_image(20, 24).transpose(1, 0, 2))[:, ::-1]  # a view
    probs = np.full((24, 20, 2), 0.5, np.float32).transpose(2, 0, 1)
    probs[0, :, :5] = 0.9
    out = crf_inference(image, probs)
    assert out.shape == (2, 24, 20)


def test_shape_and_dtype_mismatches_are_rejected():
    with pytest.raises(ValueError):
        crf_inference(two_region_image(), np.full((2, 10, 10), 0.5, np.float32))
    with pytest.raises(ValueError):
        crf_inference(two_region_image().astype(np.float32), np.full((2, 24, 20), 0.5, np.float32))


def test_label_unary_by_hand():
    unary = label_unary(np.array([[0, 2]]), 3, gt_prob=0.7)
    assert unary.shape == (3, 1, 2)
    np.testing.assert_allclose(unary[:, 0, 0], -np.log([0.7, 0.15, 0.15]), rtol=1e-6)
    np.testing.assert_allclose(unary[:, 0, 1], -np.log([0.15, 0.15, 0.7]), rtol=1e-6)


def test_crf_on_labels_returns_labels_in_range_and_keeps_clear_regions():
    image = two_region_image()
    labels = np.zeros((24, 20), np.int64)
    labels[:, 10:] = 2
    labels[3, 4] = 1  # an isolated wrong label inside a uniform region
    out = crf_on_labels(image, labels, 3)
    assert out.shape == (24, 20)
    assert out.min() >= 0 and out.max() <= 2
    assert (out[:, :10] == 0).all() and (out[:, 10:] == 2).all()


def test_crf_on_labels_rejects_out_of_range_labels():
    with pytest.raises(ValueError):
        crf_on_labels(two_region_image(), np.full((24, 20), 3), 3)


def test_read_only_image_is_accepted():
    """Images decoded by PIL come as read-only views; the CRF must not reject them."""
    image = np.zeros((6, 5, 3), dtype=np.uint8)
    image.setflags(write=False)
    probs = np.full((2, 6, 5), 0.5, dtype=np.float32)
    out = crf_inference(image, probs, n_iters=2)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)


CRF = dict(n_iters=5, gauss_sxy=3, gauss_compat=3, bilateral_sxy=10, bilateral_srgb=13, bilateral_compat=10)


def noisy_images(n=6, h=24, w=20):
    rng = np.random.default_rng(0)
    for _ in range(n):
        image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        probs = rng.random((3, h, w)).astype(np.float32)
        yield image, probs / probs.sum(0, keepdims=True)


def test_mask_writer_workers_write_the_same_pngs_as_inline(tmp_path):
    from wsss.refine.crf_workers import MaskWriter, crf_mask
    from wsss.io.png import read_label_png

    values = np.array([0, 5, 17])
    for workers in (0, 2):
        with MaskWriter(workers) as masks:
            for k, (image, probs) in enumerate(noisy_images()):
                masks.write(tmp_path / f"w{workers}" / f"{k}.png", image, probs, CRF, values)
    for k, (image, probs) in enumerate(noisy_images()):
        expected = crf_mask(image, probs, CRF, values)
        assert set(np.unique(expected)) <= {0, 5, 17}
        expected_argmax = values[crf_inference(image, probs, **CRF).argmax(0)]
        assert np.array_equal(expected, expected_argmax)
        for workers in (0, 2):
            assert np.array_equal(read_label_png(tmp_path / f"w{workers}" / f"{k}.png"), expected)


def test_mask_writer_raises_a_workers_error_and_stops(tmp_path):
    from wsss.refine.crf_workers import MaskWriter

    image, probs = next(noisy_images())
    with pytest.raises(ValueError, match="image must be"):
        with MaskWriter(2) as masks:
            masks.write(tmp_path / "a.png", image[:5], probs, CRF, np.arange(3))  # wrong size: the worker raises
    assert not (tmp_path / "a.png").exists()


def test_crf_workers_take_all_but_one_thread_only_when_the_dcrf_runs():
    from wsss.refine.crf_workers import crf_workers

    assert crf_workers(4, CRF) == 3 and crf_workers(1, CRF) == 0 and crf_workers(4, None) == 0

import numpy as np
import torch

from wsss.methods.cam import background_score, cams_to_labels, max_normalise, strided_size


def test_max_normalise_relu_and_zero_map():
    cams = torch.tensor([[[-1.0, 2.0], [4.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = max_normalise(cams)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5], [1.0, 0.25]]), atol=1e-4, rtol=0)
    assert torch.all(out[1] == 0)  # an all-zero map stays zero, no NaN


def test_background_score_formula():
    cams = np.array([[[0.0, 0.5]], [[0.2, 1.0]]], dtype=np.float32)  # (K=2, 1, 2)
    np.testing.assert_allclose(background_score(cams, 2), [[(1 - 0.2) ** 2, 0.0]])
    assert np.all(background_score(np.zeros((0, 3, 3)), 4) == 1)


def test_cams_to_labels_uses_keys_and_threshold():
    cams = np.array([[[0.9, 0.1, 0.3]], [[0.2, 0.05, 0.6]]], dtype=np.float32)
    labels = cams_to_labels(cams, np.array([3, 15]), threshold=0.25)
    np.testing.assert_array_equal(labels, [[3, 0, 15]])


def test_strided_size_rounds_up():
    assert strided_size((375, 500), 16) == (24, 32)
    assert strided_size((128, 128), 8) == (16, 16)


def test_part_body_coverage_counts_pixels_at_or_above_the_threshold():
    from wsss.metrics.part_coverage import part_body_coverage

    cam = np.array([[1.0, 0.5], [0.29, 0.3]])
    part = np.array([[True, False], [False, False]])
    body = np.array([[False, True], [True, True]])
    assert part_body_coverage(cam, part, body, 0.3) == (1, 1, 2, 3)

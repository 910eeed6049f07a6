"""Tests for wsss.refine.affinity_labels: PSA / IRN confident labels and their scoring."""

import numpy as np
import pytest

from wsss.refine.affinity_labels import (affinity_label_scores, affinity_label_stats, crf_labels_with_alpha,
                                         irn_affinity_labels, psa_affinity_labels)

H = W = 64


def synthetic_scene():
    """Dark background, a mid-grey context ring, a bright square; the CAM is 1 on the square,
    0.15 on the ring (uncertain) and 0 far away. Returns image (H, W, 3), cams (1, H, W)."""
    image = np.full((H, W, 3), 30, np.uint8)
    image[12:52, 12:52] = 110
    image[24:40, 24:40] = 220
    cams = np.zeros((1, H, W), np.float32)
    cams[0, 12:52, 12:52] = 0.15
    cams[0, 24:40, 24:40] = 1.0
    return image, cams


@pytest.mark.parametrize("make_labels", [psa_affinity_labels, irn_affinity_labels])
def test_square_is_the_class_far_is_background_ring_is_neutral(make_labels):
    image, cams = synthetic_scene()
    labels = make_labels(image, cams, np.array([7]))
    assert labels.dtype == np.uint8 and labels.shape == (H, W)
    assert set(np.unique(labels)) <= {0, 7, 255}
    assert (labels[26:38, 26:38] == 7).all()  # inside the square
    assert (labels[:6, :] == 0).all() and (labels[:, -6:] == 0).all()  # far away
    assert (labels[16, 16:48] == 255).all()  # the uncertain ring


def test_psa_labels_without_a_context_colour():
    # Without the ring's own colour the CRF still keeps the confident extremes right.
    image, cams = synthetic_scene()
    image[12:52, 12:52][image[12:52, 12:52] == 110] = 30
    labels = psa_affinity_labels(image, cams, np.array([3]))
    assert (labels[28:36, 28:36] == 3).all() and (labels[:4] == 0).all()


def test_two_classes_map_to_their_keys():
    image = np.full((H, W, 3), 30, np.uint8)
    image[4:20, 4:20] = (220, 40, 40)
    image[40:60, 40:60] = (40, 220, 40)
    cams = np.zeros((2, H, W), np.float32)
    cams[0, 4:20, 4:20] = 1.0
    cams[1, 40:60, 40:60] = 1.0
    for make_labels in (psa_affinity_labels, irn_affinity_labels):
        labels = make_labels(image, cams, np.array([5, 15]))
        assert (labels[8:16, 8:16] == 5).all()
        assert (labels[44:56, 44:56] == 15).all()
        assert (labels[30:34, 0:10] == 0).all()


def test_no_class_gives_all_background():
    image, _ = synthetic_scene()
    empty = np.zeros((0, H, W), np.float32)
    for make_labels in (psa_affinity_labels, irn_affinity_labels):
        labels = make_labels(image, empty, np.array([], dtype=np.int64))
        assert (labels == 0).all()


def test_stats_and_scores_by_hand():
    aff = np.array([[0, 0, 7, 255],
                    [7, 255, 7, 0]], np.uint8)
    gt = np.array([[0, 7, 7, 7],
                   [7, 0, 255, 255]], np.uint8)
    stats = affinity_label_stats(aff, gt)
    # valid: 6 pixels; confident among them: (0,0) (0,1) (0,2) (1,0) -> 4; correct: (0,0) (0,2) (1,0)
    assert stats == {"valid": 6, "confident": 4, "correct": 3, "confident_fg": 2, "correct_fg": 2,
                     "confident_bg": 2, "correct_bg": 1}
    scores = affinity_label_scores(stats)
    assert scores["precision"] == pytest.approx(0.75)
    assert scores["coverage"] == pytest.approx(4 / 6)
    assert scores["precision_fg"] == pytest.approx(1.0)
    assert scores["precision_bg"] == pytest.approx(0.5)


def test_stats_sum_over_images_and_empty_scores_are_nan():
    aff = np.full((2, 2), 255, np.uint8)
    gt = np.zeros((2, 2), np.uint8)
    stats = affinity_label_stats(aff, gt)
    assert stats["confident"] == 0 and stats["valid"] == 4
    assert np.isnan(affinity_label_scores(stats)["precision"])
    with pytest.raises(ValueError):
        affinity_label_stats(aff, np.zeros((3, 2), np.uint8))


def test_raw_scores_give_the_crf_the_unnormalised_background_and_cams():
    # raw: the CRF's probabilities are [(1 - max CAM)^alpha; CAMs] as they are (PSA infer_cls.py:91-94);
    # normalised divides them by their per-pixel sum. Where no clip acts both unaries differ by a
    # per-pixel constant, so with CAMs in [0.2, 0.8] (bg^4 >= 0.0016) the marginals are the same.
    from wsss.refine.crf import crf_inference

    image, _ = synthetic_scene()
    cams = np.stack([np.linspace(0.2, 0.8, H * W).reshape(H, W)]).astype(np.float32)
    raw = crf_labels_with_alpha(image, cams, np.array([2]), 4, scores="raw", n_iters=3)
    normalised = crf_labels_with_alpha(image, cams, np.array([2]), 4, scores="normalised", n_iters=3)
    assert np.array_equal(raw, normalised)
    scores = np.concatenate([(1 - cams) ** 4, cams])
    assert np.array_equal(raw, np.array([0, 2])[crf_inference(image, scores, n_iters=3).argmax(0)])
    with pytest.raises(ValueError):
        crf_labels_with_alpha(image, cams, np.array([2]), 4, scores="softmax")


def test_stage_passes_each_method_its_settings():
    from wsss.stages.make_affinity_labels import affinity_labels_for

    image, cams = synthetic_scene()
    params = {"alpha_low": 4, "alpha_high": 32, "fg_threshold": 0.3, "bg_threshold": 0.05, "crf_scores": "raw"}
    crf = {"n_iters": 3, "bilateral_sxy": 20}
    assert np.array_equal(affinity_labels_for(image, cams, np.array([7]), "psa", params, crf),
                          psa_affinity_labels(image, cams, np.array([7]), scores="raw", crf_kwargs=crf))
    assert np.array_equal(affinity_labels_for(image, cams, np.array([7]), "irn", params, crf),
                          irn_affinity_labels(image, cams, np.array([7]), crf_kwargs=crf))

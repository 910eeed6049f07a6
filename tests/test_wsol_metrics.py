import numpy as np
import pytest

from wsss.metrics.wsol import (
    BoxAccumulator,
    ClassPxAPAccumulator,
    LocalizationAccumulator,
    PxAPAccumulator,
    hits_any,
    pxap_from_histograms,
    score_histograms,
)

GT_BOX = (2, 1, 4, 3)  # x0, y0, x1, y1 inclusive


def square_mask() -> np.ndarray:
    mask = np.zeros((6, 6), dtype=bool)
    mask[1:4, 2:5] = True  # the pixels of GT_BOX: 9 of 36
    return mask


def test_perfect_map_scores_100():
    mask = square_mask()
    boxes, pixels = BoxAccumulator(), PxAPAccumulator()
    boxes.add(mask.astype(np.float32), [GT_BOX])
    pixels.add(mask.astype(np.float32), mask)
    result = boxes.compute()
    assert result["max_box_acc_v2"] == 100.0
    assert result["max_box_acc_iou30"] == result["max_box_acc_iou70"] == 100.0
    assert pixels.compute() == pytest.approx(100.0)


def test_zero_map_scores_0_boxes_and_positive_fraction_pxap():
    mask = square_mask()
    boxes, pixels = BoxAccumulator(), PxAPAccumulator()
    boxes.add(np.zeros((6, 6)), [GT_BOX])
    pixels.add(np.zeros((6, 6)), mask)
    assert boxes.compute()["max_box_acc_v2"] == 0.0
    # every pixel is predicted only at threshold 0: precision 9/36 at recall 1
    assert pixels.compute() == pytest.approx(100 * 9 / 36)


def test_pxap_hand_computed_curve_and_ignore():
    cam = np.array([[0.9, 0.4], [0.6, 0.1]])
    fg = np.array([[True, True], [False, False]])
    acc = PxAPAccumulator()
    acc.add(cam, fg)
    # highest thresholds first: {0.9} P=1 R=1/2, then {0.9, 0.6, 0.4} P=2/3 R=1: 1/2 + (2/3)(1/2)
    assert acc.compute() == pytest.approx(100 * (0.5 + 1 / 3))
    ignored = PxAPAccumulator()
    ignored.add(cam, fg, ignore=np.array([[False, False], [True, False]]))  # drop the 0.6 background pixel
    assert ignored.compute() == pytest.approx(100.0)
    assert np.isnan(PxAPAccumulator().compute())


def test_score_histograms_bins():
    fg, bg = score_histograms(np.array([[0.0, 0.5, 0.7, 1.0]]), np.array([[True, False, True, False]]), None,
                              np.array([0.1, 0.5]))
    np.testing.assert_array_equal(fg, [1, 0, 1])  # 0.0 below every threshold, 0.7 in [0.5, inf)
    np.testing.assert_array_equal(bg, [0, 0, 2])
    assert np.isnan(pxap_from_histograms(np.zeros(3), np.ones(3)))  # no foreground pixel


def test_class_pxap_per_class_and_mean():
    mask = np.array([[1, 1, 2, 0], [0, 255, 2, 0]], dtype=np.uint8)
    cams = np.stack([(mask == 1).astype(np.float32), np.zeros((2, 4), np.float32)])  # class 1 perfect, 2 empty
    acc = ClassPxAPAccumulator()
    acc.add(cams, [1, 2], mask)
    acc.add(np.zeros((1, 2, 4)), [1], np.zeros((2, 4), np.uint8))  # an image without class 2's pixels
    result = acc.compute()
    assert result["per_class"][2] == pytest.approx(100 * 2 / 7)  # 2 class-2 pixels among 7 non-ignored
    assert result["per_class"][1] == pytest.approx(100 * 2 / 2)  # extra background only scores 0
    assert result["mpxap"] == pytest.approx((100 + 100 * 2 / 7) / 2)


def test_box_acc_partial_and_threshold_choice():
    acc = BoxAccumulator()
    poor = np.zeros((6, 6))
    poor[1:3, 2:5] = 1.0  # 6 of the 9 GT pixels: IoU 6/9 -> correct at 0.3 and 0.5, not 0.7
    acc.add(poor, [GT_BOX])
    ring = np.full((6, 6), 0.3)
    ring[square_mask()] = 0.8  # thresholds < 0.3 give the whole image (IoU 9/36), >= 0.3 the GT box
    acc.add(ring, [GT_BOX, (0, 0, 0, 0)])
    result = acc.compute()
    assert result["max_box_acc_iou30"] == 100.0
    assert result["max_box_acc_iou50"] == 100.0
    assert result["max_box_acc_iou70"] == 50.0
    assert result["max_box_acc_v2"] == pytest.approx(250 / 3)
    table = acc.box_acc()
    assert table.shape == (100, 3)
    assert table[0].tolist() == [50.0, 50.0, 0.0]  # t = 0: the ring image is one whole-image box, IoU 1/4


def test_top1_and_gt_known_single_label():
    good = np.zeros((3, 6, 6))
    good[:, 1:4, 2:5] = 1.0  # every class map finds the square
    bad = good.copy()
    bad[2] = 0.0
    bad[2, 5, 5] = 1.0  # class 2's map points at a corner
    boxes = [GT_BOX]
    acc = LocalizationAccumulator()
    acc.add([3.0, 1.0, 0.0], good, {0: boxes})  # right class, right box
    acc.add([0.0, 1.0, 2.0], good, {1: boxes})  # wrong class, right box for the true class
    acc.add([0.0, 1.0, 2.0], bad, {2: boxes})  # right class, wrong box
    result = acc.compute()
    assert result["count"] == 3
    assert result["top1_cls"] == pytest.approx(200 / 3)
    assert result["top1_loc"] == pytest.approx(100 / 3)
    assert result["gt_known_loc"] == pytest.approx(200 / 3)


def test_top1_and_gt_known_multilabel_pairs():
    cams = {0: np.zeros((6, 6)), 1: square_mask().astype(float)}  # class 0's map finds nothing
    acc = LocalizationAccumulator()
    acc.add([0.5, 2.0, -1.0], cams, {0: [(0, 0, 1, 1)], 1: [GT_BOX]})  # top-1 = class 1, one of the two
    result = acc.compute()
    assert result["count"] == 2
    assert result["top1_cls"] == result["top1_loc"] == 100.0
    assert result["gt_known_loc"] == 50.0


def test_hits_any():
    assert hits_any([GT_BOX, (0, 0, 0, 0)], [(9, 9, 9, 9), GT_BOX], 0.5)
    assert not hits_any([], [GT_BOX], 0.5)
    assert not hits_any([(0, 0, 1, 1)], [GT_BOX], 0.5)


def test_box_sets_count_per_threshold_and_pooled_pxap_sums_the_classes():
    acc = BoxAccumulator(thresholds=[0.1, 0.5, 0.9], iou_thresholds=(0.5,))
    shared = np.array([GT_BOX])
    acc.add_box_sets([shared, shared, np.zeros((0, 4))], [GT_BOX])  # hit, hit, no box
    acc.add_box_sets([np.array([[0, 0, 0, 0]])], [GT_BOX])           # a miss, then no sets at all
    assert acc.box_acc()[:, 0].tolist() == [50.0, 50.0, 0.0]
    with pytest.raises(ValueError, match="4 box sets for 3 thresholds"):
        acc.add_box_sets([shared] * 4, [GT_BOX])
    # pooled PxAP: one curve over both classes' pixels, unlike the mean of the two curves
    cams = np.array([[[0.9, 0.4], [0.6, 0.1]], [[0.2, 0.5], [0.3, 0.1]]])  # each class ranked perfectly
    mask = np.array([[1, 2], [0, 0]])
    pxap = ClassPxAPAccumulator(thresholds=np.arange(0, 1, 0.1))
    pxap.add(cams, [1, 2], mask)
    pooled = PxAPAccumulator(thresholds=np.arange(0, 1, 0.1))
    pooled.add(cams[0], mask == 1)
    pooled.add(cams[1], mask == 2)
    result = pxap.compute()
    assert result["pxap"] == pytest.approx(pooled.compute())
    assert result["mpxap"] == pytest.approx(np.mean(list(result["per_class"].values())))
    assert result["pxap"] != pytest.approx(result["mpxap"])

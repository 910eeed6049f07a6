import numpy as np
import pytest

from wsss.metrics.miou import confusion_matrix, iou_per_class, mean_iou


def test_confusion_counts_and_ignore():
    gt = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    conf = confusion_matrix(pred, gt, num_classes=3)
    expected = np.array([[1, 1, 0],   # gt 0: one right, one predicted 1
                         [0, 2, 0],   # gt 1: both right
                         [1, 0, 0]])  # gt 2: predicted 0; the 255 pixel is ignored
    np.testing.assert_array_equal(conf, expected)


def test_iou_by_hand():
    gt = np.array([[0, 0, 1], [1, 255, 2]])
    pred = np.array([[0, 1, 1], [1, 2, 0]])
    iou = iou_per_class(confusion_matrix(pred, gt, num_classes=3))
    # class 0: TP 1, gt 2, pred 2 -> 1/3; class 1: TP 2, gt 2, pred 3 -> 2/3; class 2: TP 0 -> 0
    np.testing.assert_allclose(iou, [1 / 3, 2 / 3, 0.0])
    assert mean_iou(confusion_matrix(pred, gt, num_classes=3)) == pytest.approx((1 / 3 + 2 / 3) / 3)


def test_perfect_and_absent_classes():
    gt = np.array([[0, 5], [5, 255]])
    conf = confusion_matrix(gt.copy(), gt, num_classes=21)
    iou = iou_per_class(conf)
    assert iou[0] == 1.0 and iou[5] == 1.0
    assert np.isnan(iou[1])  # absent from both: not averaged
    assert mean_iou(conf) == 1.0


def test_shape_mismatch_rejected():
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)))


def test_zero_rule_counts_absent_classes_as_zero():
    gt = np.array([[0, 5], [5, 255]])
    pred = np.array([[0, 5], [0, 0]])
    conf = confusion_matrix(pred, gt, num_classes=21)
    # class 0: TP 1, union 2 -> 1/2; class 5: TP 1, union 2 -> 1/2; 19 classes in neither
    assert mean_iou(conf, "skip") == pytest.approx(0.5)
    assert mean_iou(conf, "zero") == pytest.approx(1.0 / 21)
    iou = iou_per_class(conf, "zero")
    assert iou[1] == 0.0 and iou[0] == pytest.approx(0.5)

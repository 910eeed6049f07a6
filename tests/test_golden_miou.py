"""Golden tests: mIoU under each absent-class rule against values printed once by the official code, on
the three label maps of tests/golden_eval_inputs.miou_pairs() (classes 0, 1, 5, 9, 15 in the ground
truth with void 255; 0, 1, 5, 12, 15 predicted; 15 classes in neither).

How the values were made (scratch folder outside the repository, Python 3.11, NumPy 2.4.6, torch 2.14.1):
the maps were written as PNGs in a VOC layout (SegmentationClass/<id>.png, ImageSets/Segmentation/train.txt,
predictions as PNGs, and for IRN's eval_cam one-hot CAM dicts whose argmax with background 0.5 is the
prediction) and read by the official scripts, unchanged except for the stand-ins named per test.
"""

import numpy as np
import pytest

from golden_eval_inputs import miou_pairs
from wsss.metrics.miou import confusion_matrix, iou_per_class, mean_iou


def split_confusion() -> np.ndarray:
    return sum(confusion_matrix(pred, gt) for pred, gt in miou_pairs())


def test_skip_rule_is_irns():
    """jiwoon-ahn/irn a2ece0034d0a5a9635e4e131cd4fa6e2a779d316, step/eval_cam.py:7-29 and
    step/eval_sem_seg.py:8-31 run(args) with chainer_eval_set='train': chainercv's
    VOCSemanticSegmentationDataset (void 255 -> -1) and calc_semantic_segmentation_confusion were the
    scratch stand-ins, the latter copied from chainer/chainercv eval_semantic_segmentation.py (stored
    version 0840f0c), the former reimplemented (ids from the split list, SegmentationClass PNG as int32).
    Both scripts printed iou (16 classes: chainercv's matrix is as wide as the largest label + 1) and
    miou = np.nanmean(iou) = 0.43602693602693604. Class 12, predicted only on a void pixel, is absent
    too. Same float64 operations (one division per class, one mean): tolerance 1e-12."""
    irn_iou = [0.8055555555555556, 0.6666666666666666, np.nan, np.nan, np.nan, 0.4166666666666667, np.nan, np.nan,
               np.nan, 0.0, np.nan, np.nan, 0.0, np.nan, np.nan, 0.7272727272727273]
    confusion = split_confusion()
    iou = iou_per_class(confusion, "skip")
    np.testing.assert_allclose(iou[:16], irn_iou, rtol=0, atol=1e-12)
    assert np.isnan(iou[16:]).all()
    assert mean_iou(confusion, "skip") == pytest.approx(0.43602693602693604, abs=1e-12)
    assert mean_iou(confusion) == mean_iou(confusion, "skip")  # the default rule


def test_zero_rule_is_puzzlecams():
    """shjo-april/PuzzleCAM 659b4c1b464a86faf363314acd71a5ce9480ff9b, tools/ai/evaluate_utils.py:69-135
    Calculator_For_mIoU('./data/VOC_2012.json'): add(pred, gt) per image, get(detail=True) printed
    mIoU 12.457912457865431 (percent); evaluate.py:75-131 do_python_eval on the PNGs with num_cores=1
    printed the same. Their IoU is TP / (T + P - TP + 1e-10): for a class with a union of u >= 1 pixels
    that is below ours by at most 1e-10 relative, so the means agree to 1e-9 (in percent)."""
    confusion = split_confusion()
    assert 100 * mean_iou(confusion, "zero") == pytest.approx(12.457912457865431, abs=1e-9)
    iou = iou_per_class(confusion, "zero")
    assert np.isfinite(iou).all() and (iou[[2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20]] == 0).all()


def test_zero_rule_is_eaders():
    """ErikStammes/EADER 9d81e40a76e576ce33c0df29df6c06843b70d5d3, metrics.py:5-46 Metrics(20): update(pred,
    target) per image on int64 tensors, miou() printed 0.12457913160324097. EADER divides float32 counts
    (intersection / (union + 1e-10)) and averages 21 float32 values: each IoU is within about 2 float32
    roundings (1.2e-7) of the exact one and the sum adds up to 20 more, so 2e-6 relative bounds it."""
    assert mean_iou(split_confusion(), "zero") == pytest.approx(0.12457913160324097, rel=2e-6)


def test_the_two_rules_differ_only_by_the_absent_classes():
    confusion = split_confusion()
    present = np.isfinite(iou_per_class(confusion, "skip")).sum()
    assert present == 6
    assert mean_iou(confusion, "zero") == pytest.approx(mean_iou(confusion, "skip") * present / 21, abs=1e-15)
    with pytest.raises(ValueError, match="absent-class rule 'none'"):
        mean_iou(confusion, "none")

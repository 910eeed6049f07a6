"""Golden tests: the wsolevaluation protocol (wsss.metrics.wsol_protocol, contour_boxes) against values
printed once by the official code, clovaai/wsolevaluation at commit 96f4b88679af41f005824661f47e6fe3628af2aa.

How the values were made: evaluation.py, inference.py, util.py, data_loaders.py and config.py of that
commit were copied to a scratch folder outside the repository, `np.float` replaced by `np.float64` (NumPy 2)
and `munch.Munch` by a dict with attribute access; they ran under Python 3.11, NumPy 2.4.6 and
opencv-python-headless 5.0.0.93 (the README pins 4.1.2.30, which no package index here has), installed
in a throwaway venv. The inputs are tests/golden_eval_inputs.py, imported by the scratch script. OpenCV is
not a dependency of this package: these tests run without it.
"""

import numpy as np
import pytest

from golden_eval_inputs import BOX_IMAGES, MASK_IMAGES, box_mask, ellipse_mask, raw_map
from wsss.methods.boxes import contour_boxes
from wsss.metrics import wsol_protocol as protocol
from wsss.metrics.wsol import BoxAccumulator, ClassPxAPAccumulator

CUBIC_INPUT = (np.arange(12, dtype=np.float64).reshape(3, 4) ** 2) / 10 - 1


def test_resize_cubic_is_opencv_inter_cubic():
    """cv2.resize(CUBIC_INPUT, (w, h), interpolation=cv2.INTER_CUBIC) on the float64 3 x 4 input, up to
    5 x 6 and down to 2 x 3 (the call of inference.py:86). Each output is a sum of 16 products of float64
    values below 12 with float32-exact weights: agreement to 1e-12 leaves room for the order of the sums;
    the scratch check found at most 2e-15 on 200 random maps resized to 224 x 224."""
    up = [[-1.1556143683460107, -1.1629256039857865, -1.103700805522783, -0.975567905519307, -0.674676153063774,
           -0.44726525540081646],
          [-0.755424815158048, -0.6002248093485832, -0.27510717990663247, 0.04224027226231619, 0.6090252682566643,
           0.998947348431739],
          [0.5218750298023225, 0.946875, 1.7134259462356567, 2.3449060022830963, 3.353125, 4.0128469467163095],
          [3.5271768093837785, 4.221976979076863, 5.429961626776952, 6.375574560442114, 7.825227944552898,
           8.75474999291755],
          [5.706563740200465, 6.56387477517128, 8.037751638377152, 9.172578686225016, 10.888124698400498,
           11.98015755310589]]
    down = [[-0.7777886131778359, -0.3640625000000001, 0.46725629121065143],
            [4.560427604056894, 6.751562499999999, 9.360290305316447]]
    np.testing.assert_allclose(protocol.resize_cubic(CUBIC_INPUT, (5, 6)), up, rtol=0, atol=1e-12)
    np.testing.assert_allclose(protocol.resize_cubic(CUBIC_INPUT, (2, 3)), down, rtol=0, atol=1e-12)


def test_resize_nearest_is_opencv_inter_nearest():
    """cv2.resize(np.arange(35).reshape(7, 5).astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST),
    the ground-truth mask resize of evaluation.py:300: source index floor(d * H / h), no half-pixel offset."""
    values = np.arange(35).reshape(7, 5)
    assert protocol.resize_nearest(values, (3, 4)).tolist() == [[0, 1, 2, 3], [10, 11, 12, 13], [20, 21, 22, 23]]
    assert protocol.resize_nearest(values, (10, 8)).tolist() == [
        [0, 0, 1, 1, 2, 3, 3, 4], [0, 0, 1, 1, 2, 3, 3, 4], [5, 5, 6, 6, 7, 8, 8, 9],
        [10, 10, 11, 11, 12, 13, 13, 14], [10, 10, 11, 11, 12, 13, 13, 14], [15, 15, 16, 16, 17, 18, 18, 19],
        [20, 20, 21, 21, 22, 23, 23, 24], [20, 20, 21, 21, 22, 23, 23, 24], [25, 25, 26, 26, 27, 28, 28, 29],
        [30, 30, 31, 31, 32, 33, 33, 34]]


MASK = """
1111000000
1001000110
1111001001
0000001011
0110001001
0101100110
0110000000
0000000011
1000000011
"""


def test_contour_boxes_are_opencv_retr_tree_bounding_rects():
    """sorted(cv2.boundingRect(c) for c in cv2.findContours(MASK * 255, cv2.RETR_TREE,
    cv2.CHAIN_APPROX_SIMPLE)[0]) as (x, y, w, h), the calls of evaluation.py:140-153: one contour per
    8-connected component and one per hole (the square's and the ring's holes; the blob at right has a
    hole whose box equals its own), border-touching blobs included. The scratch run also compared
    contour_boxes with OpenCV on 2,000 random masks up to 30 x 30: no difference."""
    mask = np.array([[c == "1" for c in line] for line in MASK.split()])
    opencv = [(0, 0, 4, 3), (0, 0, 4, 3), (0, 8, 1, 1), (1, 4, 3, 3), (1, 4, 4, 3), (6, 1, 4, 5), (6, 1, 4, 5),
              (8, 7, 2, 2)]
    ours = sorted((x0, y0, x1 - x0 + 1, y1 - y0 + 1) for x0, y0, x1, y1 in contour_boxes(mask).tolist())
    assert ours == opencv


def box_accumulator(interval: float) -> BoxAccumulator:
    """MaxBoxAccV2 of BOX_IMAGES under the wsolevaluation protocol, through the stage's functions."""
    thresholds = protocol.threshold_grid(interval)
    acc = BoxAccumulator(thresholds=thresholds, iou_thresholds=(0.3, 0.5, 0.7))
    for k, (_, size, raw_size, boxes) in enumerate(BOX_IMAGES):
        score = protocol.score_map(raw_map(k, raw_size))
        acc.add_box_sets(protocol.box_sets(score, thresholds), protocol.resize_boxes(boxes, size))
    return acc


@pytest.mark.parametrize("interval,correct_sums", [(0.001, [1448, 940, 157]), (0.01, [147, 94, 16])])
def test_max_box_acc_v2_is_wsolevaluations(interval, correct_sums):
    """evaluation.py BoxEvaluator (lines 217-288) with multi_contour_eval=True and iou_threshold_list
    [30, 50, 70] (the defaults of config.py:177-186), cam_threshold_list = list(np.arange(0, 1, interval)),
    over the five images of BOX_IMAGES (CUB layout metadata written from it: image_sizes.txt as (W, H),
    localization.txt the boxes), each score map made as CAMComputer does (inference.py:86-88):
    normalize_scoremap(cv2.resize(raw_map(k, raw_size), (224, 224), interpolation=cv2.INTER_CUBIC)).
    Printed: compute() = [80.0, 60.0, 20.0] (MaxBoxAccV2 53.333333333333336, evaluation.py:486-487) at
    both intervals, and num_correct[delta].sum() over the thresholds = correct_sums (exact integers)."""
    acc = box_accumulator(interval)
    result = acc.compute()
    assert [result["max_box_acc_iou30"], result["max_box_acc_iou50"], result["max_box_acc_iou70"]] == [80.0, 60.0,
                                                                                                        20.0]
    assert result["max_box_acc_v2"] == pytest.approx(53.333333333333336, abs=1e-12)
    assert acc.correct.sum(axis=0).tolist() == correct_sums


@pytest.mark.parametrize("interval,expected", [(0.001, 37.152590882839725), (0.01, 36.98630144306255)])
def test_pxap_is_wsolevaluations(interval, expected):
    """evaluation.py MaskEvaluator (lines 339-416) over the three images of MASK_IMAGES (OpenImages layout:
    each ellipse_mask saved as a 0/255 PNG and box_mask as its ignore PNG, read back by load_mask_image),
    score maps as in the box test from raw_map(10 + k, raw_size), cam_threshold_list =
    list(np.arange(0, 1, interval)). Printed: compute() = expected (37.152590882839725 at 0.001,
    36.98630144306255 at 0.01), from 31,923 foreground and 95,528 background pixels of 3 x 224 x 224.
    Here the images carry two classes (3, 7): the pooled PxAP sums their histograms, one curve as the
    official evaluator's. The histograms are integer counts; the sum over about 1,000 float64 terms of
    precision * recall step is exact to ~1e-13 of its value: tolerance 1e-9."""
    thresholds = protocol.threshold_grid(interval)
    acc = ClassPxAPAccumulator(thresholds=protocol.pxap_thresholds(thresholds))
    for k, (_, size, raw_size, ellipse, ignore_box, key) in enumerate(MASK_IMAGES):
        foreground = ellipse_mask(size, ellipse)
        mask = np.where(foreground, key, 0).astype(np.uint8)
        mask[box_mask(size, ignore_box) & ~foreground] = 255  # ignore = ignore box minus foreground
        mask = protocol.resize_nearest(mask, (protocol.RESIZE_LENGTH,) * 2)
        acc.add(protocol.score_map(raw_map(10 + k, raw_size))[None], [key], mask)
    result = acc.compute()
    assert result["pxap"] == pytest.approx(expected, abs=1e-9)
    fg = sum(a.fg_hist.sum() for a in acc.per_class.values())
    bg = sum(a.bg_hist.sum() for a in acc.per_class.values())
    assert (fg, bg) == (31923, 95528)

import numpy as np
import pytest

from wsss.methods.boxes import all_component_boxes, box_iou, largest_component_box


def two_blobs() -> np.ndarray:
    cam = np.zeros((6, 8), dtype=np.float32)
    cam[1:3, 1:3] = 1.0  # small blob: 4 pixels, the peak
    cam[2:5, 4:7] = 0.5  # large blob: 9 pixels
    cam[5, 7] = 0.5  # touches the large blob only diagonally (8-connected)
    return cam


def test_largest_component_box_picks_the_larger_blob():
    assert largest_component_box(two_blobs(), 0.2) == (4, 2, 7, 5)
    # above 60% of the maximum only the small blob survives
    assert largest_component_box(two_blobs(), 0.6) == (1, 1, 2, 2)


def test_largest_component_box_of_zero_map_is_none():
    assert largest_component_box(np.zeros((4, 4))) is None


def test_all_component_boxes():
    boxes = all_component_boxes(two_blobs(), 0.2)
    assert sorted(map(tuple, boxes.tolist())) == [(1, 1, 2, 2), (4, 2, 7, 5)]
    np.testing.assert_array_equal(all_component_boxes(two_blobs(), 0.5), [[1, 1, 2, 2]])  # strict >
    assert all_component_boxes(np.zeros((3, 3)), 0.0).shape == (0, 4)
    assert all_component_boxes(two_blobs(), 0.0).dtype == np.int64


def test_box_iou_known_values():
    a = np.array([[0, 0, 3, 3], [10, 10, 11, 11]])
    b = np.array([[0, 0, 3, 3], [2, 2, 5, 5], [20, 20, 21, 21]])
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == 1.0
    # 4x4 boxes overlapping in a 2x2 square: 4 / (16 + 16 - 4)
    assert iou[0, 1] == pytest.approx(4 / 28)
    assert iou[0, 2] == 0.0 and iou[1, 0] == 0.0
    # touching corners share one pixel in inclusive coordinates: 1 / (4 + 4 - 1)
    assert box_iou([0, 0, 1, 1], [1, 1, 2, 2])[0, 0] == pytest.approx(1 / 7)


def test_contour_boxes_add_one_box_per_hole_grown_by_a_pixel():
    from wsss.methods.boxes import contour_boxes, hole_boxes

    mask = np.zeros((7, 8), dtype=bool)
    mask[1:6, 1:6] = True
    mask[2:4, 3] = False  # a 2-pixel hole: its border's box is one pixel wider on every side
    mask[5, 5] = False    # a notch open to the outside: not a hole
    mask[0:2, 7] = True   # a blob touching the image border
    assert hole_boxes(mask).tolist() == [[2, 1, 4, 4]]
    assert sorted(map(tuple, contour_boxes(mask).tolist())) == [(1, 1, 5, 5), (2, 1, 4, 4), (7, 0, 7, 1)]
    assert contour_boxes(np.zeros((3, 3), bool)).shape == (0, 4)
    assert hole_boxes(np.ones((3, 3), bool)).shape == (0, 4)

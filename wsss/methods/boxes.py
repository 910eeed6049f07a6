"""Boxes from class activation maps (Zhou et al. CVPR 2016; Choe et al. CVPR 2020, "Evaluating WSOL Right").

Boxes are (x0, y0, x1, y1) in 0-based pixel coordinates with both corners inclusive, so a box's area is
(x1 - x0 + 1) * (y1 - y0 + 1). Connected components are 8-connected.

Zhou et al. keep the largest connected component of the map above 20% of its maximum; MaxBoxAccV2
(Choe et al.) keeps a box around every component above a fixed threshold on a max-normalised map.
contour_boxes gives the boxes of every contour that OpenCV's findContours(RETR_TREE) traces, the
holes' included (what the reference evaluation, clovaai/wsolevaluation, boxes), without OpenCV.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
FOUR_CONNECTED = ndimage.generate_binary_structure(2, 1)


def _component_boxes(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tight boxes (N, 4) int64 and pixel counts (N,) of the 8-connected components of a boolean mask."""
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count == 0:
        return np.zeros((0, 4), dtype=np.int64), np.zeros(0, dtype=np.int64)
    slices = ndimage.find_objects(labels)  # one (rows, cols) pair of slices per label 1..count
    boxes = np.array([[cols.start, rows.start, cols.stop - 1, rows.stop - 1] for rows, cols in slices],
                     dtype=np.int64)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)[1:]
    return boxes, sizes


def largest_component_box(cam: np.ndarray, fraction: float = 0.2) -> tuple[int, int, int, int] | None:
    """Box of the largest 8-connected component of cam >= fraction * max(cam) (Zhou et al. 2016, Sec. 3).

    cam: (H, W). Returns (x0, y0, x1, y1) inclusive, or None when the map has no positive value. Ties
    between equally large components go to the first in raster order.
    """
    cam = np.asarray(cam)
    peak = float(cam.max()) if cam.size else 0.0
    if not peak > 0:
        return None
    boxes, sizes = _component_boxes(cam >= fraction * peak)
    x0, y0, x1, y1 = boxes[int(np.argmax(sizes))]
    return int(x0), int(y0), int(x1), int(y1)


def all_component_boxes(cam: np.ndarray, threshold: float) -> np.ndarray:
    """(N, 4) int64 boxes of every 8-connected component of cam > threshold (MaxBoxAccV2's "all contours").

    The comparison is strict, as in the reference evaluation's binary thresholding: at threshold 0 a
    map's exact zeros stay background, so an all-zero map has no box at any threshold.
    """
    boxes, _ = _component_boxes(np.asarray(cam) > threshold)
    return boxes


def hole_boxes(mask: np.ndarray) -> np.ndarray:
    """(N, 4) int64 boxes of the hole borders of a boolean mask: per hole (a 4-connected background
    component that does not touch the image border), the box of the foreground pixels 4-adjacent to it,
    which is the hole's tight box grown by one pixel on every side."""
    mask = np.asarray(mask, dtype=bool)
    labels, count = ndimage.label(~mask, structure=FOUR_CONNECTED)
    if count == 0:
        return np.zeros((0, 4), dtype=np.int64)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    boxes = [[cols.start - 1, rows.start - 1, cols.stop, rows.stop]
             for label, (rows, cols) in enumerate(ndimage.find_objects(labels), start=1) if label not in border]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def contour_boxes(mask: np.ndarray) -> np.ndarray:
    """(N, 4) int64 inclusive boxes of every contour findContours(RETR_TREE) traces in a boolean mask:
    the outer border of each 8-connected component (its tight box) and the border of each hole
    (hole_boxes); the image is read as surrounded by background. Order: components, then holes.

    OpenCV's boundingRect of a contour is (x, y, w, h) with x + w - 1 the last column, so these are
    (x, y, x + w - 1, y + h - 1); checked against OpenCV 5.0 on random masks in tests/test_golden_wsol.py.
    """
    outer, _ = _component_boxes(np.asarray(mask, dtype=bool))
    return np.concatenate([outer, hole_boxes(mask)])


def box_iou(a, b) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), inclusive coordinates: (N, M) float64."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    width = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1
    height = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1
    inter = np.clip(width, 0, None) * np.clip(height, 0, None)  # (N, M)
    area_a = (a[:, 2] - a[:, 0] + 1) * (a[:, 3] - a[:, 1] + 1)
    area_b = (b[:, 2] - b[:, 0] + 1) * (b[:, 3] - b[:, 1] + 1)
    union = area_a[:, None] + area_b[None, :] - inter
    return inter / np.maximum(union, 1e-12)

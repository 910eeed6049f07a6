"""The score-map conventions of the reference WSOL evaluation (Choe et al., "Evaluating Weakly Supervised
Object Localization Methods Right", CVPR 2020; clovaai/wsolevaluation at 96f4b88), without OpenCV.

wsolevaluation scores a class map after these steps (file:line at that commit):
- the raw class map (no ReLU, no normalisation) is resized to 224 x 224 with OpenCV's INTER_CUBIC
  (inference.py:86) and min-max normalised, a constant map becoming zeros (inference.py:38-52, 88);
- boxes: the map is quantised to uint8 (map * 255, truncated) and thresholded strictly above
  int(t * its maximum) (evaluation.py:132-139); every contour of findContours(RETR_TREE), holes
  included, gives the box (x, y, x + w, y + h) of its boundingRect, clipped to the map, i.e. one pixel
  wider and taller than the contour; no contour gives the box (0, 0, 0, 0) (evaluation.py:140-159);
- ground-truth boxes are scaled to 224 with truncation (evaluation.py:95-114), masks resized with
  INTER_NEAREST (evaluation.py:291-301);
- PxAP: histograms of the unquantised map over the thresholds plus the edges 1.0, 2.0 and 3.0
  (evaluation.py:348-352), pooled over every image (evaluation.py:370-380).
The threshold grid is np.arange(0, 1, interval), interval 0.001 by default (config.py:171).
"""

from __future__ import annotations

import numpy as np

from ..methods.boxes import contour_boxes

RESIZE_LENGTH = 224  # evaluation.py:41, inference.py:35
CUBIC_A = -0.75  # OpenCV's INTER_CUBIC kernel parameter


def _cubic_matrix(src: int, dst: int) -> np.ndarray:
    """(dst, src) float64 weights of OpenCV's INTER_CUBIC along one axis.

    OpenCV maps output pixel d to source position (d + 0.5) * src / dst - 0.5, rounded to float32,
    weights its four neighbours floor(p) - 1 .. floor(p) + 2 with Keys' cubic (a = -0.75) in float32,
    and replicates the edge pixels for neighbours outside the image.
    """
    position = ((np.arange(dst) + 0.5) * (1.0 / (dst / src)) - 0.5).astype(np.float32)
    left = np.floor(position)
    x = (position - left).astype(np.float32)
    a = np.float32(CUBIC_A)
    one = np.float32(1)
    w0 = ((a * (x + one) - 5 * a) * (x + one) + 8 * a) * (x + one) - 4 * a
    w1 = ((a + 2) * x - (a + 3)) * x * x + one
    w2 = ((a + 2) * (one - x) - (a + 3)) * (one - x) * (one - x) + one
    w3 = one - w0 - w1 - w2
    matrix = np.zeros((dst, src), dtype=np.float64)
    rows = np.arange(dst)
    for k, weight in enumerate((w0, w1, w2, w3)):
        np.add.at(matrix, (rows, np.clip(left.astype(np.int64) + k - 1, 0, src - 1)), weight.astype(np.float64))
    return matrix


def resize_cubic(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w) float64: array (H, W) resized as cv2.resize(array, (w, h), interpolation=INTER_CUBIC) does
    for a float64 array (separable, no antialiasing; PIL's bicubic, a = -0.5 with a widened kernel
    when shrinking, is another function)."""
    array = np.asarray(array, dtype=np.float64)
    height, width = size
    return _cubic_matrix(array.shape[0], height) @ array @ _cubic_matrix(array.shape[1], width).T


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """array (H, W) resized to (h, w) as cv2.resize(..., interpolation=INTER_NEAREST): output pixel d takes
    source pixel floor(d * H / h) (no half-pixel offset), clipped to the image."""
    array = np.asarray(array)
    height, width = size
    rows = np.minimum(np.floor(np.arange(height) * (1.0 / (height / array.shape[0]))).astype(np.int64),
                      array.shape[0] - 1)
    cols = np.minimum(np.floor(np.arange(width) * (1.0 / (width / array.shape[1]))).astype(np.int64),
                      array.shape[1] - 1)
    return array[rows[:, None], cols[None, :]]


def min_max_normalise(cam: np.ndarray) -> np.ndarray:
    """(cam - min) / (max - min) as float64; a constant map, or one with a NaN, becomes zeros."""
    cam = np.asarray(cam, dtype=np.float64)
    if np.isnan(cam).any() or cam.min() == cam.max():
        return np.zeros_like(cam)
    cam = cam - cam.min()
    return cam / cam.max()


def score_map(raw: np.ndarray, length: int = RESIZE_LENGTH) -> np.ndarray:
    """(length, length) float64 in [0, 1]: one raw class map (H, W) resized bicubically, then min-max normalised."""
    return min_max_normalise(resize_cubic(raw, (length, length)))


def resize_boxes(boxes, image_size: tuple[int, int], length: int = RESIZE_LENGTH) -> np.ndarray:
    """(M, 4) int64: inclusive boxes of an image of image_size (H, W) scaled to a length x length map,
    each coordinate truncated: int(x * length / W)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = image_size
    sizes = np.array([width, height, width, height], dtype=np.float64)
    return np.trunc(boxes * float(length) / sizes).astype(np.int64)  # (x * 224) / W, in that order


def threshold_levels(score: np.ndarray, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 quantised map, int level per threshold): the map * 255 truncated, and int(t * its maximum)."""
    quantised = (np.asarray(score, dtype=np.float64) * 255).astype(np.uint8)
    levels = np.floor(np.asarray(thresholds, dtype=np.float64) * quantised.max()).astype(np.int64)
    return quantised, levels


def box_sets(score: np.ndarray, thresholds) -> list[np.ndarray]:
    """One (N, 4) int64 box array per threshold: the boxes of every contour of quantised map > level,
    each one pixel wider and taller (clipped to the map), or [(0, 0, 0, 0)] when there is no contour.

    score: (H, W) in [0, 1]. Thresholds whose levels select the same pixels share one computation.
    """
    quantised, levels = threshold_levels(score, thresholds)
    height, width = quantised.shape
    values = np.unique(quantised)
    cache: dict[int, np.ndarray] = {}
    out = []
    for level in levels:
        key = int(np.searchsorted(values, level, side="right"))  # which values survive: values[key:]
        if key not in cache:
            boxes = contour_boxes(quantised > level)
            if len(boxes):
                boxes = boxes.copy()
                boxes[:, 2] = np.minimum(boxes[:, 2] + 1, width - 1)
                boxes[:, 3] = np.minimum(boxes[:, 3] + 1, height - 1)
            else:
                boxes = np.zeros((1, 4), dtype=np.int64)
            cache[key] = boxes
        out.append(cache[key])
    return out


def pxap_thresholds(thresholds) -> np.ndarray:
    """The PxAP histogram edges: the map thresholds, then 1.0, 2.0 and 3.0 (so the map's maximum, 1.0,
    is an operating point of its own)."""
    return np.append(np.asarray(thresholds, dtype=np.float64), [1.0, 2.0, 3.0])


def threshold_grid(interval: float) -> np.ndarray:
    """np.arange(0, 1, interval): the CAM-threshold grid (interval 0.001 gives 1,000 thresholds)."""
    return np.arange(0, 1, interval)

"""Fixed inputs of the golden evaluation tests (tests/test_golden_wsol.py, tests/test_golden_miou.py).

The scratch scripts that ran the official evaluation code imported these very functions, so the
expected values in those tests were computed from exactly these arrays: the formulas here must not
change. Closed-form arithmetic only (no random generator whose stream could change between versions).
"""

from __future__ import annotations

import numpy as np

#: (image id, image size (H, W), raw map size (h, w), ground-truth boxes (x0, y0, x1, y1) in image pixels)
BOX_IMAGES = (
    ("box/a.jpg", (200, 300), (25, 38), ((40, 30, 200, 150),)),
    ("box/b.jpg", (240, 180), (30, 23), ((10, 20, 80, 100), (100, 120, 170, 230))),
    ("box/c.jpg", (224, 224), (28, 28), ((60, 60, 180, 200),)),
    ("box/d.jpg", (131, 97), (17, 13), ((0, 0, 96, 130),)),
    ("box/e.jpg", (160, 160), (20, 20), ((5, 100, 60, 155),)),
)

#: (image id, image size (H, W), raw map size (h, w), ellipse (cy, cx, ry, rx) as fractions, ignore box
#: (y0, x0, y1, x1) as fractions or None, class key)
MASK_IMAGES = (
    ("mask/a.jpg", (100, 150), (13, 19), (0.45, 0.5, 0.3, 0.25), (0.1, 0.1, 0.6, 0.9), 3),
    ("mask/b.jpg", (120, 90), (15, 12), (0.6, 0.4, 0.25, 0.35), None, 7),
    ("mask/c.jpg", (224, 224), (28, 28), (0.3, 0.7, 0.2, 0.2), (0.5, 0.0, 1.0, 0.5), 3),
)


def raw_map(index: int, shape) -> np.ndarray:
    """(h, w) float64 raw class map: two bumps, a ring (holes at high thresholds), a ripple, an offset
    below zero (so min-max and ReLU/max normalisation differ)."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w]
    y, x = (y + 0.5) / h, (x + 0.5) / w
    cy, cx = 0.35 + 0.07 * index, 0.6 - 0.09 * index
    bump = 1.6 * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / 0.02)
    bump += 0.9 * np.exp(-((y - 0.75) ** 2 / 0.01 + (x - 0.25) ** 2 / 0.03))
    ring = 0.8 * np.exp(-((np.hypot(y - 0.5, x - 0.5) - 0.28) / 0.05) ** 2)
    ripple = 0.15 * np.sin(9 * x + 5 * y + index)
    return bump + ring + ripple - 0.45


def ellipse_mask(size, ellipse) -> np.ndarray:
    """(H, W) bool: pixel centres inside the ellipse (cy, cx, ry, rx), given as fractions of the image."""
    h, w = size
    cy, cx, ry, rx = ellipse
    y, x = np.mgrid[0:h, 0:w]
    return ((y + 0.5) / h - cy) ** 2 / ry**2 + ((x + 0.5) / w - cx) ** 2 / rx**2 <= 1


def box_mask(size, box) -> np.ndarray:
    """(H, W) bool: the rectangle (y0, x0, y1, x1), fractions of the image, end exclusive."""
    h, w = size
    mask = np.zeros((h, w), dtype=bool)
    if box is not None:
        y0, x0, y1, x1 = box
        mask[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = True
    return mask


#: The mIoU golden input: three images whose ground truth has classes 0, 1, 5, 9, 15 and void 255; the
#: predictions copy it, never say 9 (said 5 there) and say 0 on void, and differ on a pattern of pixels,
#: drawn from 12, 1, 5, 0, 15: class 9 only in the ground truth, 12 only in the predictions (once on a
#: void pixel), 15 classes in neither.
MIOU_GT_PALETTE = (0, 0, 1, 5, 9, 15)
MIOU_PRED_PALETTE = (12, 1, 5, 0, 15, 12)
MIOU_SHAPES = ((6, 8), (5, 7), (7, 6))


def miou_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    """[(prediction, ground truth)] uint8 label maps of the three images, built from their index patterns."""
    pairs = []
    for k, (h, w) in enumerate(MIOU_SHAPES):
        i, j = np.mgrid[0:h, 0:w]
        gt = np.asarray(MIOU_GT_PALETTE, dtype=np.uint8)[(3 * i + 2 * j + k) % 6]
        gt[(i + j + k) % 7 == 0] = 255
        pred = np.where(gt == 255, 0, np.where(gt == 9, 5, gt)).astype(np.uint8)
        flip = (2 * i + j + 2 * k) % 5 == 0
        pred[flip] = np.asarray(MIOU_PRED_PALETTE, dtype=np.uint8)[(i + k) % 6][flip]
        pairs.append((pred, gt))
    return pairs

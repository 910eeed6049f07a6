"""Fixed inputs of the golden tests (tests/test_golden_psa.py, tests/test_golden_irn.py).

The expected values in those tests were printed by the official PSA / IRN functions run once on
exactly these arrays, so the formulas here must not change. Closed-form arithmetic only (no random
generator whose stream could change between library versions).
"""

import numpy as np


def label_scene():
    """A 32 x 40 uint8 image: a red object in a dim context, a green object, textured background; two
    max-normalised float32 CAMs (Gaussian blobs) of classes 4 and 11. Returns image, cams (2, H, W), keys."""
    y, x = np.mgrid[0:32, 0:40]
    image = np.stack([40 + (7 * x + 3 * y) % 23, 50 + (5 * x + 11 * y) % 19, 60 + (13 * x + 2 * y) % 17], -1)
    image[2:21, 1:20] = np.stack([60 + (x + 2 * y) % 9, 65 + (3 * x) % 7, 75 + (x + y) % 5], -1)[2:21, 1:20]
    image[5:17, 4:16] = np.stack([200 + (3 * x + y) % 11, 60 + (x + 5 * y) % 13, 50 + (2 * x) % 7], -1)[5:17, 4:16]
    image[14:28, 21:36] = np.stack([60 + (x * y) % 9, 190 + (4 * x + 3 * y) % 15, 70 + y % 5], -1)[14:28, 21:36]
    cams = np.stack([np.exp(-((y - 11.0) ** 2 + (x - 11.0) ** 2) / (2 * 4.0 ** 2)),
                     np.exp(-((y - 20.0) ** 2 + (x - 27.0) ** 2) / (2 * 5.0 ** 2))]).astype(np.float32)
    cams /= cams.max((1, 2), keepdims=True)
    return image.astype(np.uint8), cams, np.array([4, 11])


def pair_label_map():
    """An 11 x 11 uint8 affinity label map with background 0, classes 3 and 8 and neutral 255."""
    y, x = np.mgrid[0:11, 0:11]
    labels = np.zeros((11, 11), np.uint8)
    labels[(x + 2 * y) % 7 < 3] = 3
    labels[(3 * x - y) % 5 == 0] = 8
    labels[(x * y + x) % 6 == 4] = 255
    return labels


def loss_inputs():
    """AffinityNet features (2, 3, 11, 11) float64 in [0.5, 2.5] and affinity labels (2, 11, 11) at their grid."""
    b, c, y, x = np.mgrid[0:2, 0:3, 0:11, 0:11].astype(np.float64)
    features = 1.5 + np.sin(0.9 * y + 0.4 * x * (c + 1) + 1.7 * b + c)
    labels = np.stack([pair_label_map(), pair_label_map()[::-1, ::-1]])
    return features, labels


def walk_inputs():
    """AffinityNet features (1, 4, 10, 14) float64, CAMs (2, 80, 112) float64 at 8x that grid, their keys (2, 15)."""
    c, y, x = np.mgrid[0:4, 0:10, 0:14].astype(np.float64)
    features = (1.0 + np.cos(0.8 * y * (c + 1) - 0.5 * x + 2.0 * c) + 0.3 * np.sin(1.3 * x + y))[None]
    y, x = np.mgrid[0:80, 0:112].astype(np.float64)
    cams = np.stack([np.exp(-((y - 25.0) ** 2 + (x - 30.0) ** 2) / (2 * 14.0 ** 2)),
                     np.exp(-((y - 52.0) ** 2 + (x - 80.0) ** 2) / (2 * 18.0 ** 2))])
    cams /= cams.max((1, 2), keepdims=True)
    return features, cams, np.array([2, 15])

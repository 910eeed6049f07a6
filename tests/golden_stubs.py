"""Fixed inputs and stub networks of the golden tests (tests/test_golden_*.py).

The golden values in those tests were printed once by the official code run on exactly these
inputs (scratch copies under /tmp, never in this repo); our functions get the same inputs here.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def image(height: int = 11, width: int = 14) -> np.ndarray:
    """(H, W, 3) uint8: (37 i + 11 j^2 + 53 c + 7 i j) mod 256."""
    i, j, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing="ij")
    return ((37 * i + 11 * j * j + 53 * c + 7 * i * j) % 256).astype(np.uint8)


def head_weight() -> torch.Tensor:
    """(20, 6, 1, 1) class weights sin(1.3 k + 0.7 c + 0.2): the bias-free 1x1 head."""
    k = torch.arange(20, dtype=torch.float32)[:, None]
    c = torch.arange(6, dtype=torch.float32)[None, :]
    return torch.sin(1.3 * k + 0.7 * c + 0.2).reshape(20, 6, 1, 1)


def stub_features(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, h, w) -> (N, 6, h//2, w//2): 2x2 average pools of x and of x^2 - 1 (fixed, nonlinear)."""
    return torch.cat([F.avg_pool2d(x, 2), F.avg_pool2d(x * x, 2) - 1.0], 1)


def conv_weight() -> torch.Tensor:
    """(3, 3, 3, 3) weights cos(0.9 o + 0.5 i + 0.8 a - 0.6 b) / 4."""
    o, i, a, b = torch.meshgrid(*(torch.arange(3.0),) * 4, indexing="ij")
    return torch.cos(0.9 * o + 0.5 * i + 0.8 * a - 0.6 * b) / 4


def padded_features(x: torch.Tensor) -> torch.Tensor:
    """A zero-padded 3x3 conv (conv_weight), then stub_features: a tile's border changes its maps."""
    return stub_features(F.conv2d(x, conv_weight(), padding=1))


class StubClassifier:
    """The Classifier interface the CAM and loss code use (features, head, class_maps, backbone)."""

    def __init__(self, features=stub_features):
        self._features = features
        self.backbone = SimpleNamespace(mean=IMAGENET_MEAN, std=IMAGENET_STD, output_stride=2)

    def features(self, x):
        return self._features(x)

    def head(self, features):
        return F.conv2d(features, head_weight())

    def class_maps(self, x):
        return self.head(self.features(x))

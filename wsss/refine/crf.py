"""Fully connected CRF (Kraehenbuehl & Koltun, NIPS 2011) through pydensecrf, as used by PSA and IRN.

Energy: unary -log p plus a Gaussian (smoothness) kernel and a bilateral (appearance) kernel,
both with Potts compatibility; mean-field inference returns per-pixel marginals.
"""

from __future__ import annotations

import numpy as np
import pydensecrf.densecrf as dcrf

#: Probabilities are clipped to [PROB_FLOOR, 1] before -log (pydensecrf's unary_from_softmax default).
PROB_FLOOR = 1e-5


def _checked_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The image as the C-contiguous, writable uint8 (H, W, 3) array pydensecrf needs."""
    image = np.asarray(image)
    if image.shape != (height, width, 3):
        raise ValueError(f"image must be ({height}, {width}, 3) to match the scores, got {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    return np.require(image, requirements=["C", "W"])  # copies read-only views (e.g. of PIL buffers)


def _mean_field(image: np.ndarray, unary: np.ndarray, n_iters: int, gauss_sxy: float, gauss_compat: float,
                bilateral_sxy: float, bilateral_srgb: float, bilateral_compat: float) -> np.ndarray:
    """Mean-field marginals (C, H, W) float32 for a (C, H, W) unary energy on a (H, W, 3) image."""
    n_labels, height, width = unary.shape
    crf = dcrf.DenseCRF2D(width, height, n_labels)
    crf.setUnaryEnergy(np.ascontiguousarray(unary.reshape(n_labels, -1), dtype=np.float32))
    crf.addPairwiseGaussian(sxy=gauss_sxy, compat=gauss_compat)
    crf.addPairwiseBilateral(sxy=bilateral_sxy, srgb=bilateral_srgb,
                             rgbim=_checked_image(image, height, width), compat=bilateral_compat)
    marginals = np.asarray(crf.inference(n_iters), dtype=np.float32)  # (C, H*W)
    return marginals.reshape(n_labels, height, width)


def crf_inference(image: np.ndarray, probs: np.ndarray, *, n_iters: int = 10, gauss_sxy: float = 3,
                  gauss_compat: float = 3, bilateral_sxy: float = 80, bilateral_srgb: float = 13,
                  bilateral_compat: float = 10) -> np.ndarray:
    """Dense-CRF marginals (C, H, W) float32 from probabilities (C, H, W) on a uint8 (H, W, 3) image.

    Unary = -log(clip(p, 1e-5, 1)); defaults are PSA's (Gaussian sxy 3 / compat 3, bilateral
    sxy 80 / srgb 13 / compat 10, 10 iterations). Each pixel's output sums to 1.
    """
    probs = np.asarray(probs, dtype=np.float32)
    if probs.ndim != 3:
        raise ValueError(f"probs must be (C, H, W), got shape {probs.shape}")
    unary = -np.log(np.clip(probs, PROB_FLOOR, 1.0))
    return _mean_field(image, unary, n_iters, gauss_sxy, gauss_compat, bilateral_sxy, bilateral_srgb,
                       bilateral_compat)


def label_unary(labels: np.ndarray, n_labels: int, gt_prob: float) -> np.ndarray:
    """Unary (n_labels, H, W) trusting a label map: -log gt_prob for the given label, -log((1 - gt_prob) / (n - 1)) else."""
    if not 0.0 < gt_prob < 1.0:
        raise ValueError(f"gt_prob must lie in (0, 1), got {gt_prob}")
    if n_labels < 2:
        raise ValueError(f"a label CRF needs at least 2 labels, got {n_labels}")
    labels = np.asarray(labels)
    if labels.min() < 0 or labels.max() >= n_labels:
        raise ValueError(f"labels must lie in 0..{n_labels - 1}, got {labels.min()}..{labels.max()}")
    unary = np.full((n_labels,) + labels.shape, -np.log((1.0 - gt_prob) / (n_labels - 1)), np.float32)
    np.put_along_axis(unary, labels[None].astype(np.int64), np.float32(-np.log(gt_prob)), axis=0)
    return unary


def crf_on_labels(image: np.ndarray, labels: np.ndarray, n_labels: int, *, gt_prob: float = 0.7,
                  n_iters: int = 10, gauss_sxy: float = 3, gauss_compat: float = 3,
                  bilateral_sxy: float = 50, bilateral_srgb: float = 5,
                  bilateral_compat: float = 10) -> np.ndarray:
    """IRN's label CRF: refine a (H, W) map of compact labels 0..n_labels-1, return the (H, W) int64 argmax.

    Unary from ``label_unary`` (gt_prob 0.7); pairwise defaults are IRN's imutils.crf_inference_label
    (bilateral sxy 50 / srgb 5, unlike PSA's 80 / 13). The caller maps compact labels back to
    class ids, e.g. keys[result].
    """
    unary = label_unary(labels, n_labels, gt_prob)
    marginals = _mean_field(image, unary, n_iters, gauss_sxy, gauss_compat, bilateral_sxy,
                            bilateral_srgb, bilateral_compat)
    return marginals.argmax(0)

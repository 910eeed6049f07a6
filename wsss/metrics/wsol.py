"""Weakly supervised object localisation metrics (Choe et al., "Evaluating Weakly Supervised Object
Localization Methods Right", CVPR 2020), streamed image by image through accumulators.

- Top-1 Cls / Top-1 Loc / GT-known Loc (Russakovsky et al. IJCV 2015; Zhou et al. CVPR 2016): a box
  from one class map (largest component above a fraction of its maximum) is correct at IoU >= 0.5
  with any ground-truth box of that class.
- MaxBoxAccV2: BoxAcc(t, delta) counts a sample correct when ANY box around a component of
  map > t has IoU >= delta with ANY ground-truth box; the value is the mean over delta in
  {0.3, 0.5, 0.7} of max_t BoxAcc(t, delta).
- PxAP: area under the pixel precision-recall curve traced by the map thresholds, sum over
  thresholds of precision * (increase in recall), from histograms of map values at foreground and
  background pixels.

The maps given to MaxBoxAccV2 and PxAP must be normalised to [0, 1] by the caller: max-normalised at
image resolution (wsss.methods.cam.max_normalise; protocol "ours"), or min-max normalised 224 x 224
score maps whose boxes come from wsss.metrics.wsol_protocol.box_sets (protocol "wsolevaluation", the
reference code's conventions: see that module). All values are percentages (0..100).

Multi-label images (VOC): a sample is one (image, ground-truth class) pair.
- GT-known Loc and MaxBoxAccV2 use that class's map against that class's boxes.
- Top-1 Cls counts the pair correct when the image's top-scoring class is one of the image's classes,
  and Top-1 Loc when, moreover, the box from the top-scoring class's map hits a box of that class;
  both outcomes are the same for every pair of one image, so all three metrics share one denominator
  (the number of pairs, which is the number of images for single-label data).
- PxAP keeps one accumulator per class, fed only by the images that have the class (foreground = its
  pixels, background = every other non-ignored pixel, scored with its map); mPxAP averages the
  classes with at least one foreground pixel, and the pooled PxAP sums every class's histograms (one
  curve over all samples, as wsolevaluation's MaskEvaluator pools its images).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data.classes import IGNORE_INDEX
from ..methods.boxes import all_component_boxes, box_iou, largest_component_box

DEFAULT_THRESHOLDS = np.arange(0, 1, 0.01)
IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def _as_boxes(boxes) -> np.ndarray:
    """Any box list -> (M, 4) float64 (an empty list gives (0, 4))."""
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def hits_any(boxes, gt_boxes, iou_threshold: float) -> bool:
    """True when some box in boxes (N, 4) has IoU >= iou_threshold with some box in gt_boxes (M, 4)."""
    boxes, gt_boxes = _as_boxes(boxes), _as_boxes(gt_boxes)
    if not len(boxes) or not len(gt_boxes):
        return False
    return bool(box_iou(boxes, gt_boxes).max() >= iou_threshold)


def _check_thresholds(thresholds) -> np.ndarray:
    thresholds = np.asarray(thresholds, dtype=np.float64).ravel()
    if thresholds.size == 0 or np.any(np.diff(thresholds) <= 0):
        raise ValueError("map thresholds must be a non-empty, strictly increasing sequence")
    return thresholds


class LocalizationAccumulator:
    """Top-1 Cls, Top-1 Loc and GT-known Loc over (image, ground-truth class) samples."""

    def __init__(self, fraction: float = 0.2, iou_threshold: float = 0.5) -> None:
        self.fraction = fraction  # box threshold: this fraction of each map's maximum (Zhou et al.)
        self.iou_threshold = iou_threshold
        self.count = self.top1_cls = self.top1_loc = self.gt_known_loc = 0

    def add(self, scores, cams, gt_boxes: Mapping[int, Sequence]) -> None:
        """One image: scores (K,) class scores; cams[c] -> (H, W) map of class c; gt_boxes {class: (M, 4)}.

        cams may be a (K, H, W) array or a dict holding at least the top-1 and ground-truth classes.
        gt_boxes' keys are the image's classes (one key for single-label data).
        """
        top1 = int(np.argmax(np.asarray(scores)))
        classes = [int(c) for c in gt_boxes]
        top1_cls = top1 in classes
        top1_loc = top1_cls and self._box_hits(cams[top1], gt_boxes[top1])
        for c in classes:
            self.count += 1
            self.top1_cls += top1_cls
            self.top1_loc += top1_loc
            self.gt_known_loc += self._box_hits(cams[c], gt_boxes[c])

    def _box_hits(self, cam, gt_boxes) -> bool:
        box = largest_component_box(np.asarray(cam), self.fraction)
        return box is not None and hits_any([box], gt_boxes, self.iou_threshold)

    def compute(self) -> dict[str, float]:
        """{'top1_cls', 'top1_loc', 'gt_known_loc'} in percent (NaN before any sample), and 'count'."""
        scale = 100.0 / self.count if self.count else float("nan")
        return {
            "top1_cls": self.top1_cls * scale,
            "top1_loc": self.top1_loc * scale,
            "gt_known_loc": self.gt_known_loc * scale,
            "count": float(self.count),
        }


class BoxAccumulator:
    """MaxBoxAccV2 (Choe et al. 2020, Sec. 4.1): BoxAcc counted per (map threshold, IoU threshold)."""

    def __init__(self, thresholds=DEFAULT_THRESHOLDS, iou_thresholds: Sequence[float] = IOU_THRESHOLDS) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.iou_thresholds = np.asarray(iou_thresholds, dtype=np.float64)
        self.correct = np.zeros((len(self.thresholds), len(self.iou_thresholds)), dtype=np.int64)  # (T, D)
        self.count = 0

    def add(self, cam: np.ndarray, gt_boxes) -> None:
        """One sample: cam (H, W) max-normalised to [0, 1]; gt_boxes (M, 4) inclusive boxes of its class.
        The estimated boxes at threshold t: one around every 8-connected component of cam > t."""
        cam = np.asarray(cam)
        sets = []
        for t in self.thresholds:
            boxes = all_component_boxes(cam, t)
            if len(boxes) == 0:
                break  # higher thresholds keep even fewer pixels
            sets.append(boxes)
        self.add_box_sets(sets, gt_boxes)

    def add_box_sets(self, box_sets: Sequence[np.ndarray], gt_boxes) -> None:
        """One sample from its estimated boxes: box_sets[i] (N_i, 4) at thresholds[i] (missing trailing
        sets and empty ones count as no box); gt_boxes (M, 4) in the same coordinates."""
        gt_boxes = _as_boxes(gt_boxes)
        if len(box_sets) > len(self.thresholds):
            raise ValueError(f"{len(box_sets)} box sets for {len(self.thresholds)} thresholds")
        if len(gt_boxes):
            hits: dict[int, np.ndarray] = {}  # by id: thresholds that share one box array share its IoUs
            for i, boxes in enumerate(box_sets):
                if len(boxes):
                    if id(boxes) not in hits:
                        hits[id(boxes)] = box_iou(boxes, gt_boxes).max() >= self.iou_thresholds
                    self.correct[i] += hits[id(boxes)]
        self.count += 1

    def box_acc(self) -> np.ndarray:
        """(T, D) BoxAcc in percent, one row per map threshold, one column per IoU threshold."""
        return 100.0 * self.correct / max(self.count, 1)

    def compute(self) -> dict[str, float]:
        """'max_box_acc_v2' (mean over IoU thresholds), 'max_box_acc_iou<100 delta>' for each, and 'count'."""
        if not self.count:
            best = np.full(len(self.iou_thresholds), np.nan)
        else:
            best = self.box_acc().max(0)  # (D,) best over map thresholds
        out = {"max_box_acc_v2": float(best.mean())}
        for delta, value in zip(self.iou_thresholds, best):
            out[f"max_box_acc_iou{round(delta * 100)}"] = float(value)
        out["count"] = float(self.count)
        return out


def score_histograms(cam: np.ndarray, foreground: np.ndarray, ignore: np.ndarray | None,
                     thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of foreground and background pixels per threshold bin: two (T + 1,) int64 arrays.

    Bin 0 holds values below thresholds[0]; bin i + 1 holds values in [thresholds[i], thresholds[i + 1])
    (the last bin is open above), so the pixels predicted foreground at thresholds[i] are bins i + 1 on.
    """
    cam = np.asarray(cam, dtype=np.float64)
    foreground = np.asarray(foreground, dtype=bool)
    if cam.shape != foreground.shape:
        raise ValueError(f"map shape {cam.shape} differs from ground-truth shape {foreground.shape}")
    valid = np.ones(cam.shape, dtype=bool) if ignore is None else ~np.asarray(ignore, dtype=bool)
    bins = np.searchsorted(thresholds, cam, side="right")  # number of thresholds <= value, 0..T
    length = len(thresholds) + 1
    fg = np.bincount(bins[valid & foreground], minlength=length)
    bg = np.bincount(bins[valid & ~foreground], minlength=length)
    return fg.astype(np.int64), bg.astype(np.int64)


def pxap_from_histograms(fg_hist: np.ndarray, bg_hist: np.ndarray) -> float:
    """PxAP in percent: sum over thresholds, highest first, of precision * (recall - previous recall).

    The curve starts at recall 0 above every value; thresholds where nothing is predicted add nothing.
    NaN when there is no foreground pixel.
    """
    positives = int(fg_hist.sum())
    if positives == 0:
        return float("nan")
    # predicted foreground at thresholds[i] = bins i + 1 .. T; reversed: highest threshold first
    tp = np.cumsum(fg_hist[:0:-1]).astype(np.float64)  # (T,)
    fp = np.cumsum(bg_hist[:0:-1]).astype(np.float64)
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / positives
    return float(100.0 * np.sum(precision * np.diff(recall, prepend=0.0)))


class PxAPAccumulator:
    """PxAP (Choe et al. 2020, Sec. 4.1) of one foreground class, from score histograms over a split."""

    def __init__(self, thresholds=DEFAULT_THRESHOLDS) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.fg_hist = np.zeros(len(self.thresholds) + 1, dtype=np.int64)
        self.bg_hist = np.zeros(len(self.thresholds) + 1, dtype=np.int64)

    def add(self, cam: np.ndarray, foreground: np.ndarray, ignore: np.ndarray | None = None) -> None:
        """cam (H, W) max-normalised to [0, 1]; foreground (H, W) bool; ignore (H, W) bool or None."""
        fg, bg = score_histograms(cam, foreground, ignore, self.thresholds)
        self.fg_hist += fg
        self.bg_hist += bg

    def compute(self) -> float:
        """PxAP in percent; NaN before any foreground pixel."""
        return pxap_from_histograms(self.fg_hist, self.bg_hist)


class ClassPxAPAccumulator:
    """mPxAP for multi-label masks: one PxAPAccumulator per class, fed by the images that have it."""

    def __init__(self, thresholds=DEFAULT_THRESHOLDS, ignore_index: int = IGNORE_INDEX) -> None:
        self.thresholds = _check_thresholds(thresholds)
        self.ignore_index = ignore_index
        self.per_class: dict[int, PxAPAccumulator] = {}

    def add(self, cams, keys: Sequence[int], mask: np.ndarray) -> None:
        """cams (K, H, W) max-normalised maps of the image's classes keys (K,); mask (H, W) label map.

        Pixels equal to ignore_index are skipped; for class keys[k], foreground is mask == keys[k].
        """
        mask = np.asarray(mask)
        ignore = mask == self.ignore_index
        for k, c in enumerate(keys):
            c = int(c)
            if c not in self.per_class:
                self.per_class[c] = PxAPAccumulator(self.thresholds)
            self.per_class[c].add(cams[k], mask == c, ignore)

    def compute(self) -> dict:
        """{'mpxap': mean over classes with foreground pixels, 'pxap': one curve over every sample (the
        classes' histograms summed), 'per_class': {class: PxAP}}, in percent."""
        per_class = {c: acc.compute() for c, acc in sorted(self.per_class.items())}
        values = [v for v in per_class.values() if np.isfinite(v)]
        length = len(self.thresholds) + 1
        fg = sum((acc.fg_hist for acc in self.per_class.values()), np.zeros(length, dtype=np.int64))
        bg = sum((acc.bg_hist for acc in self.per_class.values()), np.zeros(length, dtype=np.int64))
        return {"mpxap": float(np.mean(values)) if values else float("nan"),
                "pxap": pxap_from_histograms(fg, bg), "per_class": per_class}

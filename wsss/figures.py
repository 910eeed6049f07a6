"""Report figures: label maps and CAMs coloured for display, per-class IoU bars, overlay grids.

Arrays and tables in, RGB arrays or matplotlib Figures out (no paths, no pyplot: the Figures draw on
the Agg canvas, so they render without a display). The workflow scripts save them. class_names are a
dataset's, background first (wsss.data.classes.dataset_class_names; VOC's where not given); the VOC
colour map covers every label 0..255.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from .data.classes import CLASS_NAMES, IGNORE_INDEX, voc_palette

#: How 255 is shown: neutral (affinity labels: neither confident background nor foreground) or void (masks).
#: A light grey: VOC's own 128-grey is the class car.
NEUTRAL_GREY = (200, 200, 200)


def label_palette() -> np.ndarray:
    """The (256, 3) uint8 VOC colour map with 255 (neutral / void) shown grey."""
    palette = voc_palette()
    palette[IGNORE_INDEX] = NEUTRAL_GREY
    return palette


def label_colours(labels: np.ndarray) -> np.ndarray:
    """(H, W) uint8 label map -> (H, W, 3) uint8 RGB in the VOC colours, 255 grey."""
    return label_palette()[np.asarray(labels, dtype=np.uint8)]


def heat_map(cams: np.ndarray) -> np.ndarray:
    """(K, H, W) class maps -> (H, W) float32 in [0, 1]: the maximum over classes, divided by its peak.

    Negative scores count as 0; an image without class maps (K = 0) or with an all-zero maximum gives zeros.
    """
    cams = np.asarray(cams, dtype=np.float32)
    if cams.shape[0] == 0:
        return np.zeros(cams.shape[1:], dtype=np.float32)
    heat = np.clip(cams.max(axis=0), 0.0, None)  # (H, W)
    peak = float(heat.max())
    return heat / peak if peak > 0 else heat


def colour_heat_map(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """(H, W) values in [0, 1] -> (H, W, 3) uint8 RGB through a matplotlib colour map."""
    rgba = colormaps[cmap](np.clip(np.asarray(heat, dtype=np.float64), 0.0, 1.0))
    return np.round(rgba[..., :3] * 255).astype(np.uint8)


def blend(image: np.ndarray, colours: np.ndarray, alpha: float) -> np.ndarray:
    """(1 - alpha) * image + alpha * colours, per pixel and channel, rounded to uint8."""
    mixed = (1.0 - alpha) * np.asarray(image, dtype=np.float64) + alpha * np.asarray(colours, dtype=np.float64)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


#: The columns of one overlay row, in order.
OVERLAY_COLUMNS = ("image", "CAM (max over classes)", "affinity labels", "pseudo mask (random walk)",
                   "ground truth")


def overlay_panels(image: np.ndarray, cams: np.ndarray, affinity_labels: np.ndarray, pseudo_mask: np.ndarray,
                   ground_truth: np.ndarray, *, alpha: float = 0.5) -> list[np.ndarray]:
    """One row of OVERLAY_COLUMNS as (H, W, 3) uint8 panels: the image, its CAM heat map blended over it
    with alpha, and the three label maps in the VOC colours (255 grey)."""
    heat = colour_heat_map(heat_map(cams))
    return [np.asarray(image, dtype=np.uint8), blend(image, heat, alpha), label_colours(affinity_labels),
            label_colours(pseudo_mask), label_colours(ground_truth)]


def legend_entries(label_maps, class_names=CLASS_NAMES) -> list[tuple[str, tuple[float, float, float]]]:
    """(name, RGB in 0..1) of every value present in the label maps, in label order, 255 last."""
    values = sorted(set().union(*(np.unique(m).tolist() for m in label_maps))) if label_maps else []
    palette = label_palette()
    entries = []
    for value in values:
        name = "neutral / void (255)" if value == IGNORE_INDEX else class_names[value]
        entries.append((name, tuple(float(c) / 255 for c in palette[value])))
    return entries


def overlay_figure(rows: list[list[np.ndarray]], row_titles: list[str], legend, *, title: str = "",
                   column_titles=OVERLAY_COLUMNS, panel_inches: float = 2.2) -> Figure:
    """A grid of panels, one row per image (each row a list of (H, W, 3) arrays), with a colour legend."""
    n_rows, n_cols = len(rows), len(column_titles)
    legend_inches = 0.35 * (1 + len(legend) // 8)
    figure = Figure(figsize=(panel_inches * n_cols, panel_inches * max(n_rows, 1) + legend_inches + 0.4),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(max(n_rows, 1), n_cols, squeeze=False)
    for r, panels in enumerate(rows):
        for c, panel in enumerate(panels):
            axes[r, c].imshow(panel, interpolation="nearest")
    for r in range(axes.shape[0]):
        for c in range(n_cols):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(column_titles[c], fontsize=9)
        if r < len(row_titles):
            axes[r, 0].set_ylabel(row_titles[r], fontsize=8)
    if legend:
        handles = [Patch(facecolor=colour, edgecolor="black", linewidth=0.5, label=name) for name, colour in legend]
        figure.legend(handles=handles, loc="outside lower center", ncols=min(8, len(handles)), fontsize=8,
                      frameon=False)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def per_class_iou(table: pd.DataFrame, class_names=CLASS_NAMES) -> np.ndarray:
    """(C,) IoU in % of the first row of an evaluation table with iou_<class> columns (NaN: class absent)."""
    row = table.iloc[0]
    return np.array([100 * float(row[f"iou_{name}"]) for name in class_names], dtype=np.float64)


def experiment_iou_series(*, cams: pd.DataFrame, pseudo_masks: pd.DataFrame, segmentation: pd.DataFrame,
                          upper_bound: pd.DataFrame, train_split: str, val_split: str,
                          class_names=CLASS_NAMES) -> dict[str, np.ndarray]:
    """Bar-series name -> (C,) per-class IoU in %: the CAM at its best background threshold and the
    pseudo masks on the training split, the segmenter and the fully supervised upper bound on val."""
    threshold = float(cams.iloc[0]["best_threshold"])
    return {
        f"CAM @ bg {threshold:.2f} ({train_split})": per_class_iou(cams, class_names),
        f"pseudo masks ({train_split})": per_class_iou(pseudo_masks, class_names),
        f"segmentation ({val_split})": per_class_iou(segmentation, class_names),
        f"fully supervised ({val_split})": per_class_iou(upper_bound, class_names),
    }


def per_class_iou_figure(series: dict[str, np.ndarray], class_names=CLASS_NAMES, *, title: str = "") -> Figure:
    """Grouped bars: one group per class (classes NaN in every series left out), one bar per series (none
    where that series is NaN), each series' legend entry with its mean over the classes it scores (= the
    tables' mIoU)."""
    values = np.array(list(series.values()), dtype=np.float64).reshape(len(series), -1)  # (S, C) in %
    shown = [c for c in range(values.shape[1]) if np.isfinite(values[:, c]).any()]
    figure = Figure(figsize=(max(6.0, 0.55 * len(shown) + 2), 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    width = 0.8 / max(1, len(series))
    positions = np.arange(len(shown))
    for s, (name, ious) in enumerate(series.items()):
        finite = np.isfinite(ious)
        mean = float(np.nanmean(ious)) if finite.any() else float("nan")
        axes.bar(positions + (s - (len(series) - 1) / 2) * width, ious[shown], width,
                 label=f"{name}: mIoU {mean:.1f}")
    axes.set_xticks(positions, [class_names[c] for c in shown], rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("IoU (%)")
    axes.set_ylim(0, 100)
    axes.grid(axis="y", linewidth=0.3)
    if title:
        axes.set_title(title, fontsize=11)
    figure.legend(loc="outside upper center", ncols=max(1, len(series)), fontsize=8, frameon=False)
    return figure

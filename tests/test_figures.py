"""Report figures on tiny hand-made arrays: label colours, heat-map normalisation, blending, the grids."""

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from wsss.data.classes import CLASS_NAMES, voc_palette
from wsss.figures import (NEUTRAL_GREY, OVERLAY_COLUMNS, blend, colour_heat_map, experiment_iou_series, heat_map,
                          label_colours, label_palette, legend_entries, overlay_figure, overlay_panels,
                          per_class_iou, per_class_iou_figure)


def test_label_colours_are_the_voc_palette_with_255_grey():
    labels = np.array([[0, 1], [15, 255]], dtype=np.uint8)
    colours = label_colours(labels)
    assert colours.shape == (2, 2, 3) and colours.dtype == np.uint8
    np.testing.assert_array_equal(colours[0, 0], [0, 0, 0])        # background black
    np.testing.assert_array_equal(colours[0, 1], [128, 0, 0])      # aeroplane
    np.testing.assert_array_equal(colours[1, 0], [192, 128, 128])  # person
    np.testing.assert_array_equal(colours[1, 1], NEUTRAL_GREY)     # neutral / void


def test_255_is_a_grey_that_no_class_has():
    grey = label_palette()[255]
    assert grey[0] == grey[1] == grey[2]
    assert not any((voc_palette()[:21] == grey).all(axis=1))  # car is VOC's 128-grey: not that one
    np.testing.assert_array_equal(label_palette()[:255], voc_palette()[:255])


def test_heat_map_is_the_class_maximum_divided_by_its_peak():
    cams = np.array([[[0.0, 0.2], [0.1, 0.4]],
                     [[0.3, 0.1], [-0.5, 0.2]]], dtype=np.float32)  # (K=2, 2, 2)
    # max over classes [[0.3, 0.2], [0.1, 0.4]], peak 0.4
    np.testing.assert_allclose(heat_map(cams), [[0.75, 0.5], [0.25, 1.0]], rtol=1e-6)


def test_heat_map_of_no_classes_or_all_zero_is_zero():
    assert heat_map(np.zeros((0, 3, 4))).shape == (3, 4)
    assert not heat_map(np.zeros((0, 3, 4))).any()
    np.testing.assert_array_equal(heat_map(np.zeros((2, 2, 2))), np.zeros((2, 2)))
    np.testing.assert_array_equal(heat_map(-np.ones((1, 2, 2))), np.zeros((2, 2)))  # negatives count as 0


def test_colour_heat_map_ends_of_jet():
    colours = colour_heat_map(np.array([[0.0, 1.0]]))
    np.testing.assert_array_equal(colours[0, 0], [0, 0, 128])  # jet at 0: dark blue
    np.testing.assert_array_equal(colours[0, 1], [128, 0, 0])  # jet at 1: dark red


def test_blend_by_hand():
    image = np.array([[[100, 0, 200]]], dtype=np.uint8)
    colours = np.array([[[200, 255, 0]]], dtype=np.uint8)
    np.testing.assert_array_equal(blend(image, colours, 0.5), [[[150, 128, 100]]])  # 127.5 rounds to 128
    np.testing.assert_array_equal(blend(image, colours, 0.0), image)
    np.testing.assert_array_equal(blend(image, colours, 1.0), colours)


def test_overlay_panels_pixels():
    image = np.full((2, 2, 3), 100, dtype=np.uint8)
    cams = np.array([[[0.0, 0.0], [0.0, 1.0]]], dtype=np.float32)
    affinity = np.array([[0, 255], [255, 1]], dtype=np.uint8)
    pseudo = np.array([[0, 0], [1, 1]], dtype=np.uint8)
    truth = np.array([[0, 255], [1, 1]], dtype=np.uint8)
    panels = overlay_panels(image, cams, affinity, pseudo, truth, alpha=0.5)
    assert len(panels) == len(OVERLAY_COLUMNS) and all(p.shape == (2, 2, 3) for p in panels)
    np.testing.assert_array_equal(panels[0], image)
    np.testing.assert_array_equal(panels[1][0, 0], [50, 50, 114])   # (100 + jet(0) = (0, 0, 128)) / 2
    np.testing.assert_array_equal(panels[1][1, 1], [114, 50, 50])   # (100 + jet(1) = (128, 0, 0)) / 2
    np.testing.assert_array_equal(panels[2][0, 1], NEUTRAL_GREY)
    np.testing.assert_array_equal(panels[2][1, 1], [128, 0, 0])
    np.testing.assert_array_equal(panels[3][0, 0], [0, 0, 0])
    np.testing.assert_array_equal(panels[4][0, 1], NEUTRAL_GREY)


def test_legend_entries_in_label_order_255_last():
    entries = legend_entries([np.array([[255, 7]]), np.array([[0, 7]])])
    assert [name for name, _ in entries] == ["background", "car", "neutral / void (255)"]
    assert entries[1][1] == (128 / 255, 128 / 255, 128 / 255)
    assert entries[2][1] == tuple(c / 255 for c in NEUTRAL_GREY)


def _png(figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)
    return np.array(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_overlay_figure_draws_its_panels():
    red = np.zeros((4, 4, 3), dtype=np.uint8)
    red[..., 0] = 255
    figure = overlay_figure([[red] * 5, [red] * 5], ["a", "b"], [("aeroplane", (0.5, 0.0, 0.0))], title="t")
    assert len(figure.axes) == 10
    assert [ax.get_title() for ax in figure.axes[:5]] == list(OVERLAY_COLUMNS)
    pixels = _png(figure)
    assert ((pixels[..., 0] == 255) & (pixels[..., 1] == 0) & (pixels[..., 2] == 0)).sum() > 100  # the panels


def _table(ious: dict, **extra) -> pd.DataFrame:
    row = {f"iou_{name}": np.nan for name in CLASS_NAMES}
    row.update({f"iou_{name}": value for name, value in ious.items()})
    return pd.DataFrame([{**extra, **row}])


def test_per_class_iou_series_in_percent_with_the_best_threshold():
    cams = _table({"background": 0.5, "cat": 0.25}, best_threshold=0.3)
    other = _table({"background": 0.75, "dog": 0.0})
    series = experiment_iou_series(cams=cams, pseudo_masks=other, segmentation=other, upper_bound=other,
                                   train_split="train", val_split="val")
    assert list(series) == ["CAM @ bg 0.30 (train)", "pseudo masks (train)", "segmentation (val)",
                            "fully supervised (val)"]
    cam = series["CAM @ bg 0.30 (train)"]
    assert cam[0] == 50.0 and cam[CLASS_NAMES.index("cat")] == 25.0 and np.isnan(cam[1])
    np.testing.assert_array_equal(per_class_iou(other)[[0, CLASS_NAMES.index("dog")]], [75.0, 0.0])


def test_per_class_iou_figure_shows_only_scored_classes_and_the_miou():
    series = {"a": np.array([50.0, np.nan, 20.0]), "b": np.array([30.0, np.nan, np.nan])}
    figure = per_class_iou_figure(series, ("background", "x", "y"), title="t")
    axes = figure.axes[0]
    assert [label.get_text() for label in axes.get_xticklabels()] == ["background", "y"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["a: mIoU 35.0", "b: mIoU 30.0"]
    heights = sorted(p.get_height() for p in axes.patches if np.isfinite(p.get_height()))
    assert heights == pytest.approx([20.0, 30.0, 50.0])
    assert _png(figure).shape[2] == 3

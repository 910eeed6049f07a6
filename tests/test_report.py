"""The `report` target on the tiny config: its figures, what reruns them, and the Snakemake HTML report."""

import numpy as np
import pytest
from PIL import Image

from wsss.figures import NEUTRAL_GREY
from report_screenshot import chromium, screenshot
from workflow_helpers import planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow

FIGURES = ("results/synthetic/cam/seed0/figures/per_class_iou.png",
           "results/synthetic/cam/seed0/figures/overlays_train.png")


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    write_config(folder)
    jobs = planned_jobs(folder, "report")
    assert jobs["plot_per_class_iou"] == 1 and jobs["make_overlays"] == 1 and jobs["report"] == 1
    snakemake(folder, "report")
    snakemake(folder, "report", "--report", str(folder / "report.html"))
    return folder


def test_report_target_makes_the_figures(reported):
    for path in FIGURES:
        assert Image.open(reported / path).format == "PNG"
    overlays = np.array(Image.open(reported / FIGURES[1]).convert("RGB"))
    # a grid of 4 rows (the default overlay count) of 5 panels: taller than a single row, wider than tall
    assert overlays.shape[1] > overlays.shape[0] / 2 > 0
    # the ground truth's void border (255) is drawn in the neutral grey
    assert (overlays == NEUTRAL_GREY).all(axis=2).sum() > 100
    log = (reported / "results/synthetic/cam/seed0/logs/make_overlays_train.log").read_text()
    assert "(4 images)" in log
    assert planned_jobs(reported, "report") == {}


def test_a_threshold_change_replots_the_bars_not_the_overlays(reported):
    write_config(reported, {"evaluate_cams": {"fixed_threshold": 0.2}})
    jobs = planned_jobs(reported, "report")
    write_config(reported)
    assert jobs.get("plot_per_class_iou") == 1 and "make_overlays" not in jobs


def test_html_report_holds_the_figures_tables_and_captions(reported):
    html = (reported / "report.html").read_text()
    for name in ("per_class_iou.png", "overlays_train.png", "summary.tsv", "experiments.tsv"):
        assert name in html
    for text in ("Per-class IoU", "Overlays", "Figures", "Summary"):
        assert text in html
    assert "The first 4 labelled images of split" in html  # the overlay caption, rendered with its params
    assert "Weakly supervised semantic segmentation on dataset" in html  # report/workflow.rst


@pytest.mark.skipif(chromium() is None, reason="no chromium, chromium-browser or google-chrome on PATH: "
                    "`apt-get install chromium` (Debian; `make test` runs it as root)")
def test_the_report_shows_the_overlays_in_a_headless_browser(reported, tmp_path):
    def grey_pixels(path) -> int:  # the overlays' neutral/void grey, as the browser drew it
        shot = np.asarray(Image.open(path).convert("RGB")).astype(int)
        return int((np.abs(shot - np.array(NEUTRAL_GREY)).max(axis=2) <= 2).sum())

    front = screenshot(reported / "report.html", tmp_path / "front.png")
    opened = screenshot(reported / "report.html", tmp_path / "overlays.png", FIGURES[1])
    assert grey_pixels(front) < 1000  # the front page: text and the DAG
    assert grey_pixels(opened) > 10_000  # the overlay grid fills the page

"""The train_segmenter stage: the DeepLab-style segmenter on label PNGs (pseudo masks, or true masks: the upper bound)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..data.datasets import SegmentationCrops
from ..data.labels import class_columns
from ..data.voc import VOCLayout
from ..models.deeplab import build_segmenter
from ..runtime import set_threads
from ..training.loop import fit_network
from ..training.networks import network_to_train
from ..training.param_groups import GroupRule
from ..training.segmentation import segmentation_loss


def segmenter_classes(rows) -> int:
    """Outputs of the segmenter: background and the K classes of the label table's rows (21 for VOC)."""
    return len(class_columns(rows.columns)) + 1


def train_segmenter(device, job: dict):
    """Build and train the segmenter of job on device; returns (model, history).

    job: cfg (the segmentation section, precision resolved), seed, threads, root, rows (the label
    table's training rows), masks (the folder of <image_id>.png labels, or None for the dataset's true
    masks), classifier (checkpoint whose backbone initialises it, or None), state, digest, log (logger
    name). One call per data-parallel process (wsss.training.distributed.launch). The segmenter scores
    background and every class column of the rows (segmenter_classes).
    """
    cfg = job["cfg"]
    set_threads(job["threads"], processes=cfg["processes"], workers=cfg["num_workers"])
    log = logging.getLogger(job["log"])
    model = network_to_train(build_segmenter, cfg, seed=job["seed"], classifier=job["classifier"], log=log,
                             num_classes=segmenter_classes(job["rows"]))
    if job["masks"] is None:
        mask_path = VOCLayout(job["root"]).mask
    else:
        masks = Path(job["masks"])
        mask_path = lambda image_id: masks / f"{image_id}.png"  # noqa: E731
    dataset = SegmentationCrops(job["root"], job["rows"], mask_path, crop=cfg["crop_size"],
                                scale_range=cfg["scale_range"], mean=model.backbone.mean, std=model.backbone.std,
                                seed=job["seed"], cache_images=cfg["cache_images"])
    history = fit_network(model, dataset, segmentation_loss, cfg,
                          param_groups=model.param_groups(cfg["lr"], GroupRule.from_config(cfg)), device=device,
                          state_path=job["state"], digest=job["digest"], seed=job["seed"], log=log.info)
    return model, history

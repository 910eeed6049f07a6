"""The train_affinitynet stage: AffinityNet on the pixel pairs of the affinity labels (PSA)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..data.datasets import SegmentationCrops
from ..models.affinitynet import build_affinitynet
from ..runtime import set_threads
from ..training.affinitynet import affinity_batch_loss
from ..training.loop import fit_network
from ..training.networks import network_to_train
from ..training.param_groups import GroupRule


def train_affinitynet(device, job: dict):
    """Build and train the AffinityNet of job on device; returns (model, history).

    job: cfg (the affinitynet section, precision resolved), seed, threads, root, rows (the training
    rows), labels (the folder of <image_id>.png affinity labels), classifier (checkpoint whose backbone
    initialises it, or None), state, digest, log (logger name). One call per data-parallel process
    (wsss.training.distributed.launch).
    """
    cfg = job["cfg"]
    set_threads(job["threads"], processes=cfg["processes"], workers=cfg["num_workers"])
    log = logging.getLogger(job["log"])
    model = network_to_train(build_affinitynet, cfg, seed=job["seed"], classifier=job["classifier"], log=log)
    labels = Path(job["labels"])
    dataset = SegmentationCrops(job["root"], job["rows"], lambda image_id: labels / f"{image_id}.png",
                                crop=cfg["crop_size"], scale_range=cfg["scale_range"], mean=model.backbone.mean,
                                std=model.backbone.std, seed=job["seed"], cache_images=cfg["cache_images"])
    history = fit_network(model, dataset, affinity_batch_loss(cfg["radius"], cfg["loss"], cfg["pair_set"]), cfg,
                          param_groups=model.param_groups(cfg["lr"], GroupRule.from_config(cfg)), device=device,
                          state_path=job["state"], digest=job["digest"], seed=job["seed"], log=log.info)
    return model, history

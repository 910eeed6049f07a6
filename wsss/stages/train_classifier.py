"""The train_classifier stage: the GAP classifier on image-level labels, with the experiment's methods."""

from __future__ import annotations

import logging

import torch

from ..data.datasets import ClassificationCrops
from ..methods.base import ClassifierMethod
from ..models.classifier import build_classifier
from ..runtime import set_threads
from ..training.classifier import (build_networks, checkpoint_extras, classifier_loss, listed_methods,
                                   network_param_groups)
from ..training.freezing import freeze
from ..training.loop import fit_network
from ..training.param_groups import GroupRule


def train_classifier(device, job: dict):
    """Build and train the classifier of job (with the networks its methods add) on device.

    job: cfg (the classifier section, precision resolved), seed, threads, root, rows (the labelled
    training rows), num_classes, multilabel, state, digest, log (logger name). Returns (model, extras,
    history): the CAM network, the methods' other entries of the saved model (EADER's adversary) and
    the loss history. One call per data-parallel process (wsss.training.distributed.launch).
    """
    cfg = job["cfg"]
    set_threads(job["threads"], processes=cfg["processes"], workers=cfg["num_workers"])
    torch.manual_seed(job["seed"])

    def make_classifier():
        """A new classifier of this run's architecture, its backbone frozen as configured."""
        network = build_classifier(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"],
                                   num_classes=job["num_classes"])
        freeze(network.backbone, cfg["batchnorm"], cfg["frozen_stages"])
        return network

    sections = {name: cfg[name] for name in cfg["methods"] if name in cfg}  # each listed method's settings
    listed = listed_methods(cfg["methods"], multilabel=job["multilabel"], **sections)
    model = make_classifier()  # the CAM network; a method may train it inside others (EADER's adversary)
    trained = build_networks(listed, model, make_classifier)
    groups = network_param_groups(listed, trained, cfg["lr"], GroupRule.from_config(cfg))
    dataset = ClassificationCrops(job["root"], job["rows"], crop=cfg["crop_size"], scale_range=cfg["scale_range"],
                                  mean=model.backbone.mean, std=model.backbone.std, seed=job["seed"],
                                  cache_images=cfg["cache_images"])
    # a method with phases of its own (EADER's turns) leaves the other networks without gradients on its steps
    phased = any(type(method).phase is not ClassifierMethod.phase for method in listed)
    history = fit_network(trained, dataset, classifier_loss(cfg["methods"], multilabel=job["multilabel"], **sections),
                          cfg, param_groups=groups, device=device, state_path=job["state"], digest=job["digest"],
                          seed=job["seed"], log=logging.getLogger(job["log"]).info, unused_parameters=phased)
    return model, checkpoint_extras(listed, trained), history

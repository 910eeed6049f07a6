"""Rule train_classifier: train the GAP classifier (with the experiment's methods), resumable per epoch."""

import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.datasets import ClassificationCrops
from wsss.data.labels import class_columns, load_split
from wsss.io.checkpoint import save_atomic
from wsss.models.classifier import build_classifier
from wsss.runtime import (as_attributes, job_logger, params_digest, provenance_record, resolve_device, set_threads,
                          write_provenance)
from wsss.methods.eader import LocalizerAdversary
from wsss.training.classifier import REGULARISERS, classifier_loss
from wsss.training.freezing import freeze
from wsss.training.loop import Schedule, clear_state, fit, resolve_precision
from wsss.training.param_groups import GroupRule

log = job_logger(snakemake.log[0], "train_classifier")
set_threads(snakemake.threads)
cfg, seed = snakemake.params.classifier, snakemake.params.seed
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], device)}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split, labelled_only=True, log=log)
torch.manual_seed(seed)
num_classes, multilabel = len(class_columns(rows.columns)), snakemake.params.multilabel
model = build_classifier(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"],
                         num_classes=num_classes)
methods, rule = cfg["methods"], GroupRule.from_config(cfg)
freeze(model.backbone, cfg["batchnorm"], cfg["frozen_stages"])
trained, groups = model, model.param_groups(cfg["lr"], rule)
if "eader" in methods:  # the localizer is `model`; the adversary is trained beside it and kept apart
    adversary = build_classifier(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"],
                                 num_classes=num_classes)
    freeze(adversary.backbone, cfg["batchnorm"], cfg["frozen_stages"])
    trained = LocalizerAdversary(model, adversary)
    groups = trained.param_groups(cfg["lr"], cfg["lr"] * cfg["eader"]["adversary_lr_scale"], rule)
dataset = ClassificationCrops(snakemake.params.root, rows, crop=cfg["crop_size"], scale_range=cfg["scale_range"],
                              mean=model.backbone.mean, std=model.backbone.std, seed=seed, cache_images=cfg["cache_images"])
schedule = Schedule.from_config(cfg)
log.info("training %s (methods: %s; %d classes, %s) on %d images of split %s on %s", cfg["backbone"],
         ", ".join(methods) or "cam", num_classes, "multi-label" if multilabel else "single-label", len(rows),
         snakemake.params.split, device)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed, "multilabel": multilabel}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
# the weight of the listed regulariser, if any: entropy/confidence_penalty lambda, label-smoothing epsilon
weight = next((cfg[m].get("lambda", cfg[m].get("epsilon")) for m in REGULARISERS if m in methods), 0.0)
loss_fn = classifier_loss(methods, puzzle=cfg.get("puzzle"), eader=cfg.get("eader"), weight=weight,
                          multilabel=multilabel)
history = fit(trained, dataset, loss_fn, schedule=schedule, param_groups=groups,
              state_path=snakemake.params.state, digest=digest,
              device=device, seed=seed, num_workers=cfg["num_workers"], log=log.info,
              channels_last=cfg["channels_last"], precision=cfg["precision"])
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"], "num_classes": num_classes}
extra = {"adversary_state_dict": trained.adversary.cpu().state_dict()} if "eader" in methods else {}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history, **extra,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)

"""Rule train_segmenter: the DeepLab-style segmenter on pseudo masks (or true masks: the upper bound)."""

import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.datasets import SegmentationCrops
from wsss.data.labels import labelled_rows, load_split
from wsss.data.voc import VOCLayout
from wsss.io.checkpoint import load, save_atomic
from wsss.models.deeplab import build_segmenter
from wsss.runtime import (as_attributes, job_logger, params_digest, provenance_record, resolve_device, set_threads,
                          write_provenance)
from wsss.training.freezing import freeze
from wsss.training.loop import Schedule, clear_state, fit, resolve_precision
from wsss.training.param_groups import GroupRule
from wsss.training.segmentation import segmentation_loss

log = job_logger(snakemake.log[0], "train_segmenter")
set_threads(snakemake.threads)
cfg, seed = snakemake.params.segmentation, snakemake.params.seed
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], device)}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split)
if snakemake.wildcards.supervision == "gt":
    layout = VOCLayout(snakemake.params.root)
    rows = rows[rows["has_mask"]].reset_index(drop=True)
    mask_path = layout.mask
else:
    rows = labelled_rows(rows, log)
    mask_dir = Path(snakemake.input.masks[0])
    mask_path = lambda image_id: mask_dir / f"{image_id}.png"  # noqa: E731
torch.manual_seed(seed)
model = build_segmenter(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"])
if cfg["init_from_classifier"]:
    model.load_backbone_from_classifier(load(snakemake.input.classifier[0])["state_dict"])
    log.info("backbone initialised from %s", snakemake.input.classifier[0])
freeze(model.backbone, cfg["batchnorm"], cfg["frozen_stages"])
dataset = SegmentationCrops(snakemake.params.root, rows, mask_path, crop=cfg["crop_size"],
                            scale_range=cfg["scale_range"], mean=model.backbone.mean, std=model.backbone.std, seed=seed, cache_images=cfg["cache_images"])
schedule = Schedule.from_config(cfg)
log.info("training on %d images with %s masks", len(rows), snakemake.wildcards.supervision)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed, "supervision": snakemake.wildcards.supervision}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
history = fit(model, dataset, segmentation_loss, schedule=schedule,
              param_groups=model.param_groups(cfg["lr"], GroupRule.from_config(cfg)),
              state_path=snakemake.params.state, digest=digest, device=device, seed=seed,
              num_workers=cfg["num_workers"], log=log.info,
              channels_last=cfg["channels_last"], precision=cfg["precision"])
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"]}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)

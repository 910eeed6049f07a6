"""Rule train_affinitynet: AffinityNet on the pixel pairs of the affinity labels (PSA), resumable per epoch."""

import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.datasets import SegmentationCrops
from wsss.data.labels import load_split
from wsss.io.checkpoint import load, save_atomic
from wsss.models.affinitynet import build_affinitynet
from wsss.runtime import (as_attributes, job_logger, params_digest, provenance_record, resolve_device, set_threads,
                          write_provenance)
from wsss.training.affinitynet import affinity_batch_loss
from wsss.training.freezing import freeze
from wsss.training.loop import Schedule, clear_state, fit, resolve_precision
from wsss.training.param_groups import GroupRule

log = job_logger(snakemake.log[0], "train_affinitynet")
set_threads(snakemake.threads)
cfg, seed = snakemake.params.affinitynet, snakemake.params.seed
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], device)}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split, labelled_only=True, log=log)
torch.manual_seed(seed)
model = build_affinitynet(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"])
if cfg["init_from_classifier"]:
    model.load_backbone_from_classifier(load(snakemake.input.classifier)["state_dict"])
    log.info("backbone initialised from %s", snakemake.input.classifier)
freeze(model.backbone, cfg["batchnorm"], cfg["frozen_stages"])
label_dir = Path(snakemake.input.affinity_labels)
dataset = SegmentationCrops(snakemake.params.root, rows, lambda image_id: label_dir / f"{image_id}.png",
                            crop=cfg["crop_size"], scale_range=cfg["scale_range"], mean=model.backbone.mean,
                            std=model.backbone.std, seed=seed, cache_images=cfg["cache_images"])
schedule = Schedule.from_config(cfg)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
history = fit(model, dataset, affinity_batch_loss(cfg["radius"], cfg["loss"], cfg["pair_set"]), schedule=schedule,
              param_groups=model.param_groups(cfg["lr"], GroupRule.from_config(cfg)), state_path=snakemake.params.state,
              digest=digest, device=device, seed=seed,
              num_workers=cfg["num_workers"], log=log.info,
              channels_last=cfg["channels_last"], precision=cfg["precision"])
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"]}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)

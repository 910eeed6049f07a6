"""Rule train_classifier: train the GAP classifier on image-level labels, resumable per epoch."""

import pandas as pd
import torch

from wsss.data.datasets import ClassificationCrops
from wsss.data.labels import load_split
from wsss.io.checkpoint import inputs_fingerprint, save_atomic
from wsss.models.classifier import build_classifier
from wsss.runtime import job_logger, params_digest, provenance, resolve_device, set_threads
from wsss.training.classifier import multilabel_loss
from wsss.training.loop import Schedule, clear_state, fit

log = job_logger(snakemake.log[0], "train_classifier")
set_threads(snakemake.threads)
cfg, seed = snakemake.params.classifier, snakemake.params.seed
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback)
rows = load_split(snakemake.input.labels, snakemake.params.split, labelled_only=True, log=log)
torch.manual_seed(seed)
model = build_classifier(cfg["backbone"], pretrained=cfg["pretrained"], output_stride=cfg["output_stride"])
dataset = ClassificationCrops(snakemake.params.root, rows, crop=cfg["crop_size"], scale_range=cfg["scale_range"],
                              mean=model.backbone.mean, std=model.backbone.std, seed=seed)
schedule = Schedule(epochs=cfg["epochs"], batch_size=cfg["batch_size"], lr=cfg["lr"],
                    weight_decay=cfg["weight_decay"], optimizer=cfg["optimizer"])
log.info("training %s on %d images of split %s on %s", cfg["backbone"], len(rows), snakemake.params.split, device)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code)
digest = params_digest({**cfg, "seed": seed, "inputs": inputs_fingerprint(snakemake.input)})
history = fit(model, dataset, multilabel_loss, schedule=schedule, param_groups=model.param_groups(cfg["lr"]),
              state_path=snakemake.params.state, digest=digest,
              device=device, seed=seed, num_workers=cfg["num_workers"], log=log.info)
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"]}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history,
             **provenance({**cfg, "seed": seed})}, snakemake.output.model)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
clear_state(snakemake.params.state)

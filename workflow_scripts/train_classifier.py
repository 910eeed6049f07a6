"""Rule train_classifier: train the GAP classifier (with the experiment's methods), resumable per epoch."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import class_columns, load_split
from wsss.io.checkpoint import save_atomic
from wsss.runtime import (as_attributes, job_logger, log_peak_gpu_memory, params_digest, provenance_record,
                          resolve_devices, write_provenance)
from wsss.stages.train_classifier import train_classifier
from wsss.training.distributed import launch
from wsss.training.loop import clear_state, resolve_precision

log = job_logger(snakemake.log[0], "train_classifier")
cfg, seed, multilabel = snakemake.params.classifier, snakemake.params.seed, snakemake.params.multilabel
devices = resolve_devices(snakemake.params.device, cfg["processes"], snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], devices[0])}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split, labelled_only=True, log=log)
num_classes = len(class_columns(rows.columns))
log.info("training %s (methods: %s; %d classes, %s) on %d images of split %s on %s", cfg["backbone"],
         ", ".join(cfg["methods"]) or "cam", num_classes, "multi-label" if multilabel else "single-label", len(rows),
         snakemake.params.split, ", ".join(map(str, devices)))
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed, "multilabel": multilabel}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
job = {"cfg": cfg, "seed": seed, "threads": snakemake.threads, "root": snakemake.params.root, "rows": rows,
       "num_classes": num_classes, "multilabel": multilabel, "state": snakemake.params.state, "digest": digest,
       "log": "train_classifier"}
model, extras, history = launch(train_classifier, devices, job)
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"], "num_classes": num_classes}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history, **extras,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)
log_peak_gpu_memory(log)  # read by benchmarks/gpu_check.sh

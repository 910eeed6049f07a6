"""Rule train_segmenter: the DeepLab-style segmenter on pseudo masks (or true masks: the upper bound)."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split
from wsss.io.checkpoint import save_atomic
from wsss.runtime import (as_attributes, job_logger, log_peak_gpu_memory, params_digest, provenance_record,
                          resolve_devices, write_provenance)
from wsss.stages.train_segmenter import segmenter_classes, train_segmenter
from wsss.training.distributed import launch
from wsss.training.loop import clear_state, resolve_precision

log = job_logger(snakemake.log[0], "train_segmenter")
cfg, seed, supervision = snakemake.params.segmentation, snakemake.params.seed, snakemake.wildcards.supervision
devices = resolve_devices(snakemake.params.device, cfg["processes"], snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], devices[0])}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split)
if supervision == "gt":
    rows = rows[rows["has_mask"]].reset_index(drop=True)
else:
    rows = labelled_rows(rows, log)
log.info("training on %d images with %s masks", len(rows), supervision)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed, "supervision": supervision}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
job = {"cfg": cfg, "seed": seed, "threads": snakemake.threads, "root": snakemake.params.root, "rows": rows,
       "masks": None if supervision == "gt" else snakemake.input.masks[0],
       "classifier": snakemake.input.classifier[0] if cfg["init_from_classifier"] else None,
       "state": snakemake.params.state, "digest": digest, "log": "train_segmenter"}
model, history = launch(train_segmenter, devices, job)
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"], "num_classes": segmenter_classes(rows)}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)
log_peak_gpu_memory(log)  # read by benchmarks/gpu_check.sh

"""Rule train_affinitynet: AffinityNet on the pixel pairs of the affinity labels (PSA), resumable per epoch."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import load_split
from wsss.io.checkpoint import save_atomic
from wsss.runtime import (as_attributes, job_logger, log_peak_gpu_memory, params_digest, provenance_record,
                          resolve_devices, write_provenance)
from wsss.stages.train_affinitynet import train_affinitynet
from wsss.training.distributed import launch
from wsss.training.loop import clear_state, resolve_precision

log = job_logger(snakemake.log[0], "train_affinitynet")
cfg, seed = snakemake.params.affinitynet, snakemake.params.seed
devices = resolve_devices(snakemake.params.device, cfg["processes"], snakemake.params.allow_cpu_fallback, log)
cfg = {**cfg, "precision": resolve_precision(cfg["precision"], devices[0])}  # auto -> what this device runs
log.info("training arithmetic: %s", cfg["precision"])
rows = load_split(snakemake.input.labels, snakemake.params.split, labelled_only=True, log=log)
# resumable state belongs to these params and these exact inputs (data, checkpoints, code); model.pt records both
record = provenance_record({**cfg, "seed": seed}, snakemake.input)
digest = params_digest({**record["config"], "inputs": record["inputs_sha256"]})
job = {"cfg": cfg, "seed": seed, "threads": snakemake.threads, "root": snakemake.params.root, "rows": rows,
       "labels": snakemake.input.affinity_labels,
       "classifier": snakemake.input.classifier if cfg["init_from_classifier"] else None,
       "state": snakemake.params.state, "digest": digest, "log": "train_affinitynet"}
model, history = launch(train_affinitynet, devices, job)
arch = {"backbone": cfg["backbone"], "output_stride": cfg["output_stride"]}
save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": history,
             **as_attributes(record)}, snakemake.output.model, checksum=True)
pd.DataFrame(history).to_csv(snakemake.output.history, sep="\t", index=False)
write_provenance(snakemake.output.history, record)
clear_state(snakemake.params.state)
log_peak_gpu_memory(log)  # read by benchmarks/gpu_check.sh

"""Rule random_walk: CAMs propagated on AffinityNet affinities -> pseudo masks + refined scores."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split
from wsss.io.shards import job_rows
from wsss.models.loading import load_affinitynet
from wsss.runtime import as_attributes, job_logger, log_peak_gpu_memory, provenance_record, resolve_device, set_threads
from wsss.refine.crf_workers import crf_workers
from wsss.stages.random_walk import write_random_walk

log = job_logger(snakemake.log[0], "random_walk")
cfg = snakemake.params.random_walk
crf = dict(snakemake.params.crf) if cfg["crf"] else None  # the dCRF settings matter only when it runs
workers = crf_workers(snakemake.threads, crf)  # the job's threads: dCRF processes + torch
set_threads(snakemake.threads - workers)
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
split_rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
rows = labelled_rows(split_rows, log)
rows = job_rows(rows, snakemake.wildcards, snakemake.params.shards)  # a shard job's slice
model = load_affinitynet(snakemake.input.model, device)
graph = {"radius": snakemake.params.radius, "pair_set": snakemake.params.pair_set}  # AffinityNet's pair graph
record = provenance_record({**cfg, **graph, "crf_settings": crf}, snakemake.input)
sha256 = record["inputs_sha256"]
attrs = {"split": snakemake.wildcards.split, "checkpoint_sha256": sha256[snakemake.input.model],
         "cams_sha256": sha256[snakemake.input.cams], **as_attributes(record)}
stats = write_random_walk(model, snakemake.input.cams, snakemake.params.root, rows, snakemake.output.masks,
                          snakemake.output.scores, attrs=attrs, alpha_bg=cfg["alpha_bg"], **graph,
                          beta=cfg["beta"], logt=cfg["logt"], crf=crf, device=device,
                          cam_expect={"split": snakemake.wildcards.split,
                                      "checkpoint_sha256": sha256[snakemake.input.classifier]},
                          provenance=record, crf_workers=workers)
stats["n_skipped_unlabelled"] = len(split_rows) - len(rows)
log.info("wrote %s: %s", snakemake.output.masks, stats)
log_peak_gpu_memory(log)  # read by benchmarks/gpu_check.sh

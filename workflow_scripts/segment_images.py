"""Rule segment_images: the trained segmenter's masks for a split."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import load_split
from wsss.io.shards import job_rows
from wsss.models.loading import load_segmenter
from wsss.runtime import job_logger, provenance_record, resolve_device, set_threads
from wsss.refine.crf_workers import crf_workers
from wsss.stages.segment_images import write_segmentation

log = job_logger(snakemake.log[0], "segment_images")
cfg = snakemake.params.segmentation
crf = dict(snakemake.params.crf) if cfg["crf"] else None
workers = crf_workers(snakemake.threads, crf)  # the job's threads: dCRF processes + torch
set_threads(snakemake.threads - workers)
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
rows = job_rows(rows, snakemake.wildcards, snakemake.params.shards)  # a shard job's slice
model = load_segmenter(snakemake.input.model, device)
record = provenance_record({"scales": cfg["scales"], "flip": cfg["flip"], "crf": crf}, snakemake.input)
stats = write_segmentation(model, snakemake.params.root, rows, snakemake.output.masks, scales=cfg["scales"],
                           flip=cfg["flip"], crf=crf, device=device, provenance=record, crf_workers=workers)
log.info("wrote %s: %s", snakemake.output.masks, stats)

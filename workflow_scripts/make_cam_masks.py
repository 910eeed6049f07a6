"""Rule make_cam_masks: pseudo masks from the CAMs alone (constant background, optional dCRF), no random walk."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split
from wsss.io.shards import job_rows
from wsss.runtime import job_logger, provenance_record, set_threads
from wsss.refine.crf_workers import crf_workers
from wsss.stages.make_cam_masks import write_cam_masks

log = job_logger(snakemake.log[0], "make_cam_masks")
cfg = snakemake.params.pseudo_masks
crf = dict(snakemake.params.crf) if cfg["crf"] else None  # the dCRF settings matter only when it runs
workers = crf_workers(snakemake.threads, crf)  # the job's threads: dCRF processes + torch
set_threads(snakemake.threads - workers)
split_rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
rows = labelled_rows(split_rows, log)
rows = job_rows(rows, snakemake.wildcards, snakemake.params.shards)  # a shard job's slice
record = provenance_record({"cam_threshold": cfg["cam_threshold"], "crf_settings": crf}, snakemake.input)
stats = write_cam_masks(snakemake.input.cams, snakemake.params.root, rows, snakemake.output.masks,
                        threshold=cfg["cam_threshold"], crf=crf,
                        cam_expect={"split": snakemake.wildcards.split,
                                    "checkpoint_sha256": record["inputs_sha256"][snakemake.input.classifier]},
                        provenance=record, crf_workers=workers)
stats["n_skipped_unlabelled"] = len(split_rows) - len(rows)
log.info("wrote %s: %s", snakemake.output.masks, stats)

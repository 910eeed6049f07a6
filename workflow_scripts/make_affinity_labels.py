"""Rule make_affinity_labels: confident fg/bg/neutral labels from the CAM cache, one PNG per image."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split
from wsss.io.shards import job_rows
from wsss.runtime import job_logger, provenance_record
from wsss.stages.make_affinity_labels import label_crf, write_affinity_labels

log = job_logger(snakemake.log[0], "make_affinity_labels")
cfg = dict(snakemake.params.affinity_labels)
crf = label_crf(cfg["method"], snakemake.params.crf, cfg["irn_crf"])  # psa: the crf section; irn: its label CRF
split_rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
rows = labelled_rows(split_rows, log)
rows = job_rows(rows, snakemake.wildcards, snakemake.params.shards)  # a shard job's slice
record = provenance_record({"affinity_labels": cfg, "crf": crf}, snakemake.input)
params = {key: value for key, value in cfg.items() if key not in ("method", "irn_crf")}
stats = write_affinity_labels(snakemake.input.cams, snakemake.params.root, rows, snakemake.output.labels,
                              method=cfg["method"], params=params, crf=crf, threads=snakemake.threads,
                              expect={"split": snakemake.wildcards.split,
                                      "checkpoint_sha256": record["inputs_sha256"][snakemake.input.classifier]},
                              provenance=record)
stats["n_skipped_unlabelled"] = len(split_rows) - len(rows)
log.info("wrote %s: %s", snakemake.output.labels, stats)

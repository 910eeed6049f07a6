"""Rule make_affinity_labels: confident fg/bg/neutral labels from the CAM cache, one PNG per image."""

from wsss.data.labels import load_split
from wsss.runtime import job_logger
from wsss.stages.make_affinity_labels import write_affinity_labels

log = job_logger(snakemake.log[0], "make_affinity_labels")
cfg = dict(snakemake.params.affinity_labels)
rows = load_split(snakemake.input.labels, snakemake.wildcards.split, labelled_only=True, log=log)
stats = write_affinity_labels(snakemake.input.cams, snakemake.params.root, rows, snakemake.output.labels,
                              method=cfg.pop("method"), params=cfg, crf=dict(snakemake.params.crf),
                              threads=snakemake.threads)
log.info("wrote %s: %s", snakemake.output.labels, stats)

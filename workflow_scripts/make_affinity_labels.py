"""Rule make_affinity_labels: confident fg/bg/neutral labels from the CAM cache, one PNG per image."""

from wsss.data.labels import labelled_rows, read_label_table, split_rows
from wsss.runtime import job_logger
from wsss.stages.make_affinity_labels import write_affinity_labels

log = job_logger(snakemake.log[0], "make_affinity_labels")
cfg = dict(snakemake.params.affinity_labels)
rows = labelled_rows(split_rows(read_label_table(snakemake.input.labels), snakemake.wildcards.split,
                                source=snakemake.input.labels), log)
stats = write_affinity_labels(snakemake.input.cams, snakemake.params.root, rows, snakemake.output.labels,
                              method=cfg.pop("method"), params=cfg, crf=dict(snakemake.params.crf),
                              threads=snakemake.threads)
log.info("wrote %s: %s", snakemake.output.labels, stats)

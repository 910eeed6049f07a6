"""Rule summarise_experiment: gather an experiment's headline numbers into one TSV."""

from wsss.runtime import job_logger
from wsss.tables import experiment_summary

log = job_logger(snakemake.log[0], "summarise_experiment")
table = experiment_summary(cams=list(snakemake.input.cams), affinity_labels=snakemake.input.affinity_labels,
                           pseudo_masks=snakemake.input.pseudo_masks, segmentation=snakemake.input.segmentation,
                           upper_bound=snakemake.input.upper_bound)
table.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.2f")
log.info("\n%s", table.to_string(index=False))

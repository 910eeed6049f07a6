"""Rule summarise_experiment: gather an experiment's headline numbers into one TSV."""

from wsss.tables import experiment_summary
from wsss.runtime import job_logger

log = job_logger(snakemake.log[0], "summarise_experiment")
table = experiment_summary(cams=list(snakemake.input.cams))
table.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.4f")
log.info("\n%s", table.to_string(index=False))

"""Rule make_synthetic_dataset: write the embedded synthetic dataset in VOC layout."""

from wsss.data.synthetic import generate_synthetic_voc
from wsss.runtime import job_logger

log = job_logger(snakemake.log[0], "make_synthetic_dataset")
summary = generate_synthetic_voc(snakemake.output.root, **snakemake.params.synthetic)
log.info("wrote %s: %s", snakemake.output.root, summary)

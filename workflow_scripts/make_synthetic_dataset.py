"""Rule make_synthetic_dataset: write the embedded synthetic dataset in VOC layout."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.synthetic import generate_synthetic_voc
from wsss.runtime import job_logger

log = job_logger(snakemake.log[0], "make_synthetic_dataset")
summary = generate_synthetic_voc(snakemake.output.root, **snakemake.params.synthetic)
log.info("wrote %s: %s", snakemake.output.root, summary)

"""Rule summarise_experiment: gather an experiment's headline numbers into one TSV."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import experiment_summary

log = job_logger(snakemake.log[0], "summarise_experiment")
# experiments whose masks come from the CAMs alone have no affinity labels (an empty input)
affinity_labels = snakemake.input.affinity_labels[0] if len(snakemake.input.affinity_labels) else None
table = experiment_summary(cams=list(snakemake.input.cams), affinity_labels=affinity_labels,
                           pseudo_masks=snakemake.input.pseudo_masks, segmentation=snakemake.input.segmentation,
                           upper_bound=snakemake.input.upper_bound)
table.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.2f")
write_provenance(snakemake.output.summary, provenance_record({}, snakemake.input))
log.info("\n%s", table.to_string(index=False))

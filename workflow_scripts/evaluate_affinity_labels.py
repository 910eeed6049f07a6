"""Rule evaluate_affinity_labels: precision and coverage of the confident affinity labels."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split, subset_rows
from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.stages.evaluate_masks import evaluate_affinity_label_folder

log = job_logger(snakemake.log[0], "evaluate_affinity_labels")
evaluation, split = snakemake.params.evaluation, snakemake.wildcards.split
rows = subset_rows(load_split(snakemake.input.labels, split), snakemake.input.labels, evaluation["subsets"].get(split))
rows = labelled_rows(rows, log)
table = evaluate_affinity_label_folder(snakemake.input.labels_dir, snakemake.params.root, rows["image_id"],
                                       absent=evaluation["absent_classes"], masks=evaluation["masks"])
table.to_csv(snakemake.output.scores, sep="\t", index=False, float_format="%.4f")
write_provenance(snakemake.output.scores, provenance_record({"evaluation": evaluation}, snakemake.input))
log.info("\n%s", table.to_string(index=False))

"""Rule evaluate_affinity_labels: precision and coverage of the confident affinity labels."""

from wsss.data.labels import labelled_rows, read_label_table, split_rows
from wsss.runtime import job_logger
from wsss.stages.evaluate_masks import evaluate_affinity_label_folder

log = job_logger(snakemake.log[0], "evaluate_affinity_labels")
rows = labelled_rows(split_rows(read_label_table(snakemake.input.labels), snakemake.wildcards.split,
                                source=snakemake.input.labels), log)
table = evaluate_affinity_label_folder(snakemake.input.labels_dir, snakemake.params.root, rows["image_id"])
table.to_csv(snakemake.output.scores, sep="\t", index=False, float_format="%.4f")
log.info("\n%s", table.to_string(index=False))

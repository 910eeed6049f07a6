"""Rules evaluate_pseudo_masks and evaluate_segmentation: mIoU of a folder of label PNGs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import labelled_rows, load_split, subset_rows
from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.stages.evaluate_masks import evaluate_mask_folder

log = job_logger(snakemake.log[0], snakemake.rule)
evaluation, split = snakemake.params.evaluation, snakemake.wildcards.split
rows = subset_rows(load_split(snakemake.input.labels, split), snakemake.input.labels, evaluation["subsets"].get(split))
if snakemake.rule == "evaluate_pseudo_masks":
    rows = labelled_rows(rows, log)  # pseudo masks exist only for images with a label
table = evaluate_mask_folder(snakemake.input.masks, snakemake.params.root, rows["image_id"],
                             absent=evaluation["absent_classes"], masks=evaluation["masks"])
table.to_csv(snakemake.output.scores, sep="\t", index=False, float_format="%.4f")
write_provenance(snakemake.output.scores, provenance_record({"evaluation": evaluation}, snakemake.input))
log.info("mIoU %.4f over %d images", table.at[0, "miou"], table.at[0, "n_images"])

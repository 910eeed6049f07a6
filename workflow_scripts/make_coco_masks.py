"""Rule make_coco_masks: MS COCO 2014 instances -> semantic masks, split lists and labels in VOC layout."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.coco import convert_coco
from wsss.runtime import job_logger, provenance_record, write_provenance

log = job_logger(snakemake.log[0], "make_coco_masks")
params = snakemake.params
summary = convert_coco(params.coco_root, snakemake.output.root, dict(params.splits),
                       max_images=dict(params.max_images), workers=snakemake.threads, log=log)
summary.to_csv(snakemake.output.summary, sep="\t", index=False)
record = provenance_record({"coco_root": params.coco_root, "splits": dict(params.splits),
                            "max_images": dict(params.max_images)}, snakemake.input)
for target in (snakemake.output.root, snakemake.output.summary):
    write_provenance(target, record)
log.info("wrote %s:\n%s", snakemake.output.root, summary.to_string(index=False))

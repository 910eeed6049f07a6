"""Rule evaluate_cams: CAM mIoU over a background-threshold sweep, per class, best and fixed threshold."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import load_split, subset_rows
from wsss.stages.evaluate_cams import evaluate_cam_cache
from wsss.runtime import job_logger, provenance_record, write_provenance

log = job_logger(snakemake.log[0], "evaluate_cams")
cfg, evaluation, split = snakemake.params.evaluate, snakemake.params.evaluation, snakemake.wildcards.split
rows = subset_rows(load_split(snakemake.input.labels, split), snakemake.input.labels, evaluation["subsets"].get(split))
record = provenance_record({**cfg, "evaluation": evaluation}, snakemake.input)
sweep, summary = evaluate_cam_cache(snakemake.input.cams, snakemake.params.root, rows,
                                    thresholds=cfg["thresholds"], fixed_threshold=cfg["fixed_threshold"],
                                    absent=evaluation["absent_classes"], masks=evaluation["masks"],
                                    expect={"split": split,
                                            "checkpoint_sha256": record["inputs_sha256"][snakemake.input.classifier]})
for table, path in ((sweep, snakemake.output.sweep), (summary, snakemake.output.summary)):
    table.to_csv(path, sep="\t", index=False, float_format="%.4f")
    write_provenance(path, record)
log.info("\n%s", summary.to_string(index=False))

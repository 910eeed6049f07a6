"""Rule evaluate_cams: CAM mIoU over a background-threshold sweep, per class, best and fixed threshold."""

from wsss.data.labels import load_split
from wsss.stages.evaluate_cams import evaluate_cam_cache
from wsss.runtime import job_logger

log = job_logger(snakemake.log[0], "evaluate_cams")
cfg = snakemake.params.evaluate
rows = load_split(snakemake.input.labels, snakemake.wildcards.split)
sweep, summary = evaluate_cam_cache(snakemake.input.cams, snakemake.params.root, rows,
                                    thresholds=cfg["thresholds"], fixed_threshold=cfg["fixed_threshold"])
sweep.to_csv(snakemake.output.sweep, sep="\t", index=False, float_format="%.4f")
summary.to_csv(snakemake.output.summary, sep="\t", index=False, float_format="%.4f")
log.info("\n%s", summary.to_string(index=False))

"""Rule evaluate_localization: Top-1 Cls/Loc, GT-known Loc, MaxBoxAccV2 and mPxAP of an experiment's CAMs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import class_columns, labelled_rows, load_split, subset_rows
from wsss.metrics.wsol_protocol import threshold_grid
from wsss.models.loading import load_classifier
from wsss.runtime import job_logger, provenance_record, resolve_device, set_threads, write_provenance
from wsss.stages.evaluate_localization import evaluate_localization

log = job_logger(snakemake.log[0], "evaluate_localization")
set_threads(snakemake.threads)
cfg, evaluation, split = snakemake.params.localization, snakemake.params.evaluation, snakemake.wildcards.split
device = resolve_device(snakemake.params.device, snakemake.params.allow_cpu_fallback, log)
rows = subset_rows(load_split(snakemake.input.labels, split), snakemake.input.labels, evaluation["subsets"].get(split))
rows = labelled_rows(rows, log)
model = load_classifier(snakemake.input.model, device)
record = provenance_record({**cfg, "evaluation": evaluation}, snakemake.input)
summary, per_class = evaluate_localization(
    model, snakemake.input.cams, snakemake.params.root, list(rows["image_id"]),
    box_fraction=cfg["box_fraction"], cam_thresholds=threshold_grid(cfg["cam_threshold_step"]),
    iou_thresholds=cfg["iou_thresholds"], device=device, split=snakemake.params.split_folder,
    protocol=cfg["protocol"], masks=evaluation["masks"],
    class_names=("background", *class_columns(rows.columns)),
    expect={"split": snakemake.wildcards.split, "checkpoint_sha256": record["inputs_sha256"][snakemake.input.model]})
for table, path in ((summary, snakemake.output.summary), (per_class, snakemake.output.per_class)):
    table.to_csv(path, sep="\t", index=False, float_format="%.4f")
    write_provenance(path, record)
log.info("\n%s", summary.to_string(index=False))

"""Rule plot_per_class_iou: one experiment's per-class IoU bars (CAM, pseudo masks, segmentation, upper bound)."""

import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.classes import dataset_class_names
from wsss.figures import experiment_iou_series, per_class_iou_figure
from wsss.runtime import job_logger, provenance_record, write_provenance

log = job_logger(snakemake.log[0], "plot_per_class_iou")
tables = {name: pd.read_csv(snakemake.input[name], sep="\t")
          for name in ("cams", "pseudo_masks", "segmentation", "upper_bound")}
class_names = dataset_class_names(snakemake.params.root)
series = experiment_iou_series(**tables, train_split=snakemake.params.train_split,
                               val_split=snakemake.params.val_split, class_names=class_names)
wildcards = snakemake.wildcards
figure = per_class_iou_figure(series, class_names,
                              title=f"{wildcards.experiment} (seed {wildcards.seed}): per-class IoU")
figure.savefig(snakemake.output.figure, dpi=snakemake.params.dpi)
write_provenance(snakemake.output.figure, provenance_record(dict(snakemake.params.items()), snakemake.input))
log.info("wrote %s (%s)", snakemake.output.figure, ", ".join(series))

"""Rule make_overlays: a grid of the first images of a split: image | CAM | affinity labels | pseudo mask | truth."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.classes import IGNORE_INDEX, dataset_class_names
from wsss.data.labels import class_columns, load_split
from wsss.data.voc import VOCLayout, load_image, load_mask
from wsss.figures import legend_entries, overlay_figure, overlay_panels
from wsss.io.h5cache import CamCache
from wsss.io.png import read_label_png
from wsss.runtime import job_logger, provenance_record, write_provenance

log = job_logger(snakemake.log[0], "make_overlays")
wildcards = snakemake.wildcards
rows = load_split(snakemake.input.labels, wildcards.split, labelled_only=True, log=log)
rows = rows.head(snakemake.params.n_images)
layout = VOCLayout(snakemake.params.root)
class_names = dataset_class_names(layout.root)
panels, titles, label_maps = [], [], []
with CamCache(snakemake.input.cams) as cache:
    for _, row in rows.iterrows():
        image_id = row["image_id"]
        image = load_image(layout.image(image_id))
        affinity = read_label_png(Path(snakemake.input.affinity_labels) / f"{image_id}.png")
        pseudo = read_label_png(Path(snakemake.input.pseudo_masks) / f"{image_id}.png")
        mask_path = layout.mask(image_id)
        truth = (load_mask(mask_path, expected_size=image.shape[:2], num_classes=len(class_names) - 1)
                 if mask_path is not None
                 else np.full(image.shape[:2], IGNORE_INDEX, dtype=np.uint8))
        panels.append(overlay_panels(image, cache.read(image_id)["high_res"], affinity, pseudo, truth,
                                     alpha=snakemake.params.alpha))
        classes = [name for name in class_columns(row.index) if row[name] == 1]
        titles.append(f"{image_id}\n{', '.join(classes)}")
        label_maps += [affinity, pseudo, truth]
        log.info("%s: %s", image_id, ", ".join(classes))
figure = overlay_figure(panels, titles, legend_entries(label_maps, class_names),
                        title=f"{wildcards.experiment} (seed {wildcards.seed}): {wildcards.split} images")
figure.savefig(snakemake.output.figure, dpi=snakemake.params.dpi)
write_provenance(snakemake.output.figure, provenance_record(dict(snakemake.params.items()), snakemake.input))
log.info("wrote %s (%d images)", snakemake.output.figure, len(panels))

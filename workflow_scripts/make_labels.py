"""Rule make_labels: check the dataset and write the image-level label table."""

from wsss.data.labels import build_label_table
from wsss.data.classes import VOC_CLASSES
from wsss.runtime import job_logger

log = job_logger(snakemake.log[0], "make_labels")
table = build_label_table(snakemake.params.root, dict(snakemake.params.splits),
                          decode=snakemake.params.decode_check)
unlabelled = table[table[list(VOC_CLASSES)].sum(axis=1) == 0]
for image_id in unlabelled["image_id"].unique():
    log.warning("image %s has no object label: later stages skip it", image_id)
table.to_csv(snakemake.output.labels, sep="\t", index=False)
log.info("%d rows, %d images without object labels; per split: %s", len(table), unlabelled["image_id"].nunique(),
         table.groupby("split").size().to_dict())

"""Rule make_labels: check the dataset and write the image-level label table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.data.labels import build_label_table, build_wsol_label_table, class_columns
from wsss.data.layouts import is_wsol
from wsss.runtime import job_logger, provenance_record, write_provenance

log = job_logger(snakemake.log[0], "make_labels")
root, splits, decode = snakemake.params.root, dict(snakemake.params.splits), snakemake.params.decode_check
if is_wsol(root):
    table = build_wsol_label_table(root["metadata_root"], root["data_root"], root["name"], splits,
                                   snakemake.params.num_classes, decode=decode)
else:
    table = build_label_table(root, splits, decode=decode, label_source=snakemake.params.label_source)
unlabelled = table[table[class_columns(table.columns)].sum(axis=1) == 0]
for image_id in unlabelled["image_id"].unique():
    log.warning("image %s has no object label: later stages skip it", image_id)
table.to_csv(snakemake.output.labels, sep="\t", index=False)
write_provenance(snakemake.output.labels, provenance_record({"root": root, "splits": splits, "decode_check": decode,
                                                            "label_source": snakemake.params.label_source},
                                                           snakemake.input))
log.info("%d rows, %d images without object labels; per split: %s", len(table), unlabelled["image_id"].nunique(),
         table.groupby("split").size().to_dict())

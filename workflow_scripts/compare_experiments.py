"""Rule compare_experiments: one row per experiment with its headline mIoUs (TSV + Markdown)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import compare_experiments, read_summaries, write_table

log = job_logger(snakemake.log[0], "compare_experiments")
summaries = read_summaries(snakemake.params.experiments, snakemake.input.summaries)
table = compare_experiments(summaries, train_split=snakemake.params.train_split, val_split=snakemake.params.val_split)
write_table(table, snakemake.output.table, snakemake.output.markdown)
params = {"experiments": list(snakemake.params.experiments), "train_split": snakemake.params.train_split,
          "val_split": snakemake.params.val_split}
record = provenance_record(params, snakemake.input)
for path in (snakemake.output.table, snakemake.output.markdown):
    write_provenance(path, record)
log.info("\n%s", table.to_string(index=False))

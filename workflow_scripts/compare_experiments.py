"""Rule compare_experiments: one row per experiment with its headline mIoUs (TSV + Markdown)."""

import pandas as pd

from wsss.runtime import job_logger
from wsss.tables import compare_experiments, to_markdown

log = job_logger(snakemake.log[0], "compare_experiments")
summaries = {name: pd.read_csv(path, sep="\t")
             for name, path in zip(snakemake.params.experiments, snakemake.input.summaries)}
table = compare_experiments(summaries, train_split=snakemake.params.train_split, val_split=snakemake.params.val_split)
table.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.2f")
with open(snakemake.output.markdown, "w") as handle:
    handle.write(to_markdown(table))
log.info("\n%s", table.to_string(index=False))

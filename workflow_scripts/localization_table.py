"""Rule localization_table: one row per experiment with its WSOL metrics (TSV + Markdown)."""

import pandas as pd

from wsss.runtime import job_logger
from wsss.tables import localization_table, to_markdown

log = job_logger(snakemake.log[0], "localization_table")
summaries = {name: pd.read_csv(path, sep="\t")
             for name, path in zip(snakemake.params.experiments, snakemake.input.summaries)}
table = localization_table(summaries)
table.to_csv(snakemake.output.table, sep="\t", index=False, float_format="%.2f")
with open(snakemake.output.markdown, "w") as handle:
    handle.write(to_markdown(table))
log.info("\n%s", table.to_string(index=False))

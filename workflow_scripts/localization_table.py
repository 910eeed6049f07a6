"""Rule localization_table: one row per experiment with its WSOL metrics (TSV + Markdown)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import localization_table, read_summaries, write_table

log = job_logger(snakemake.log[0], "localization_table")
table = localization_table(read_summaries(snakemake.params.experiments, snakemake.input.summaries))
write_table(table, snakemake.output.table, snakemake.output.markdown)
record = provenance_record({"experiments": list(snakemake.params.experiments)}, snakemake.input)
for path in (snakemake.output.table, snakemake.output.markdown):
    write_provenance(path, record)
log.info("\n%s", table.to_string(index=False))

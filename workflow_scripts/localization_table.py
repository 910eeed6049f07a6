"""Rule localization_table: one row per experiment with its WSOL metrics (TSV + Markdown), over the seeds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import localization_table, read_seed_summaries, seed_statistics, write_table

log = job_logger(snakemake.log[0], "localization_table")
params = snakemake.params
summaries = read_seed_summaries(params.experiments, params.seeds, snakemake.input.summaries)
table = seed_statistics({seed: localization_table(by_name) for seed, by_name in summaries.items()}, params.baseline)
write_table(table, snakemake.output.table, snakemake.output.markdown, params.baseline)
record = provenance_record({"experiments": list(params.experiments), "seeds": list(params.seeds),
                            "baseline": params.baseline}, snakemake.input)
for path in (snakemake.output.table, snakemake.output.markdown):
    write_provenance(path, record)
log.info("\n%s", table.to_string(index=False))

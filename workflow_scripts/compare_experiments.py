"""Rule compare_experiments: one row per experiment with its headline mIoUs (TSV + Markdown), over the seeds."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import compare_experiments, read_seed_summaries, seed_statistics, write_table

log = job_logger(snakemake.log[0], "compare_experiments")
params = snakemake.params
summaries = read_seed_summaries(params.experiments, params.seeds, snakemake.input.summaries)
table = seed_statistics({seed: compare_experiments(by_name, train_split=params.train_split, val_split=params.val_split)
                         for seed, by_name in summaries.items()}, params.baseline)
write_table(table, snakemake.output.table, snakemake.output.markdown, params.baseline)
record = provenance_record({"experiments": list(params.experiments), "seeds": list(params.seeds),
                            "baseline": params.baseline, "train_split": params.train_split,
                            "val_split": params.val_split}, snakemake.input)
for path in (snakemake.output.table, snakemake.output.markdown):
    write_provenance(path, record)
log.info("\n%s", table.to_string(index=False))

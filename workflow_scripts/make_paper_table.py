"""Rules table_*: one paper table (methods, puzzle_ablation, refinement, localization, sweep) as TSV, Markdown, LaTeX."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this repo's wsss, in any env's python (envs/wsss.yaml)

from wsss.runtime import job_logger, provenance_record, write_provenance
from wsss.tables import (localization_table, methods_table, puzzle_ablation_table, read_seed_summaries,
                         refinement_table, seed_statistics, sweep_table, write_paper_table)

CAPTIONS = {
    "methods": "CAM, pseudo-mask and segmentation mIoU (%) per method, with the fully supervised upper bound.",
    "puzzle_ablation": "Puzzle-CAM loss terms: CAM mIoU (%) at the best background threshold.",
    "refinement": "Random walk (RW) and dCRF on/off: pseudo-mask mIoU (%) on the training split and the "
                  "segmenter trained on them.",
    "localization": "WSOL metrics (%): Top-1 Cls, Top-1 Loc, GT-known Loc, MaxBoxAccV2, mPxAP.",
    "sweep": "Localization metrics (%) along the sweep.",
}

log = job_logger(snakemake.log[0], snakemake.rule)
params = snakemake.params
splits = {"train_split": params.get("train_split"), "val_split": params.get("val_split")}


def one_seed(summaries):
    """The table of one seed's summaries ({experiment: summary})."""
    if params.kind == "methods":
        return methods_table(summaries, **splits)
    if params.kind == "puzzle_ablation":
        return puzzle_ablation_table(summaries, params.terms, **splits)
    if params.kind == "refinement":
        return refinement_table(summaries, params.settings, **splits)
    if params.kind == "localization":
        return localization_table(summaries)
    return sweep_table(summaries, params.values, params.key.split(".")[-1])


summaries = read_seed_summaries(params.experiments, params.seeds, snakemake.input.summaries)
table = seed_statistics({seed: one_seed(by_name) for seed, by_name in summaries.items()}, params.baseline)
write_paper_table(table, snakemake.output.table, snakemake.output.markdown, snakemake.output.latex,
                  caption=CAPTIONS[params.kind], baseline=params.baseline)
record = provenance_record(dict(params.items()), snakemake.input)
for output in (snakemake.output.table, snakemake.output.markdown, snakemake.output.latex):
    write_provenance(output, record)
log.info("\n%s", table.to_string(index=False))

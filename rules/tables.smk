# The paper tables: the per-experiment TSVs arranged as the papers' tables, as TSV, Markdown and LaTeX.
# `snakemake tables` builds every table the config asks for and reruns only what is stale. Over several
# seeds each cell is mean ± std, and each row gets its paired difference from the table's baseline.


rule table_methods:
    input:
        summaries=summaries_of(TABLE_METHODS),
        code=code("tables.py"),
    output:
        **paper_table("methods", "table_methods.rst"),
    log:
        results("{dataset}/logs/table_methods.log"),
    params:
        kind="methods",
        experiments=TABLE_METHODS,
        seeds=SEEDS,
        baseline=table_baseline(TABLE_METHODS),
        train_split=TRAIN_SPLIT,
        val_split=VAL_SPLIT,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_paper_table.py"


rule table_puzzle_ablation:
    input:
        summaries=summaries_of(TABLE_PUZZLE),
        code=code("tables.py"),
    output:
        **paper_table("puzzle_ablation", "table_puzzle_ablation.rst"),
    log:
        results("{dataset}/logs/table_puzzle_ablation.log"),
    params:
        kind="puzzle_ablation",
        experiments=TABLE_PUZZLE,
        seeds=SEEDS,
        baseline=table_baseline(TABLE_PUZZLE),
        terms={
            name: (
                {
                    "p_cls": section(name, "classifier")["puzzle"]["p_cls"],
                    "re": section(name, "classifier")["puzzle"]["re"],
                }
                if "puzzle" in section(name, "classifier")["methods"]
                else {"p_cls": False, "re": False}
            )
            for name in TABLE_PUZZLE
        },
        train_split=TRAIN_SPLIT,
        val_split=VAL_SPLIT,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_paper_table.py"


rule table_refinement:
    input:
        summaries=summaries_of(TABLE_REFINEMENT),
        code=code("tables.py"),
    output:
        **paper_table("refinement", "table_refinement.rst"),
    log:
        results("{dataset}/logs/table_refinement.log"),
    params:
        kind="refinement",
        experiments=TABLE_REFINEMENT,
        seeds=SEEDS,
        baseline=table_baseline(TABLE_REFINEMENT),
        settings={
            name: {
                "random_walk": section(name, "pseudo_masks")["source"] == "random_walk",
                "crf": (
                    section(name, "random_walk")["crf"]
                    if section(name, "pseudo_masks")["source"] == "random_walk"
                    else section(name, "pseudo_masks")["crf"]
                ),
            }
            for name in TABLE_REFINEMENT
        },
        train_split=TRAIN_SPLIT,
        val_split=VAL_SPLIT,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_paper_table.py"


rule table_localization:
    input:
        summaries=localization_of(TABLE_LOCALIZATION),
        code=code("tables.py"),
    output:
        **paper_table("localization", "localization.rst"),
    log:
        results("{dataset}/logs/table_localization.log"),
    params:
        kind="localization",
        experiments=TABLE_LOCALIZATION,
        seeds=SEEDS,
        baseline=table_baseline(TABLE_LOCALIZATION),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_paper_table.py"


rule table_sweep:
    input:
        summaries=localization_of(list(TABLE_SWEEP)),
        code=code("tables.py"),
    output:
        **paper_table("sweep", "table_sweep.rst"),
    log:
        results("{dataset}/logs/table_sweep.log"),
    params:
        kind="sweep",
        experiments=list(TABLE_SWEEP),
        seeds=SEEDS,
        baseline=sweep_baseline() if TABLE_SWEEP else None,
        values=TABLE_SWEEP,
        key=config["sweeps"][config["tables"]["sweep"]]["key"] if TABLE_SWEEP else "",
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_paper_table.py"


rule tables:
    """Target: every paper table the config asks for."""
    default_target: False
    input:
        table_targets(),

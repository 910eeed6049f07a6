# One TSV per experiment and seed with every headline number of the run, the upper bound included.


rule summarise_experiment:
    input:
        cams=lambda wildcards: [
            owned_result(
                "cam_eval",
                wildcards.experiment,
                f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/cams_{split}.tsv",
                dataset=wildcards.dataset,
                seed=wildcards.seed,
            )
            for split in EVAL_SPLITS
        ],
        affinity_labels=affinity_label_scores,
        pseudo_masks=owned(
            "pseudo_masks", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/pseudo_masks_{TRAIN_SPLIT}.tsv"
        ),
        segmentation=owned(
            "segmenter", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/segmentation_pseudo_{VAL_SPLIT}.tsv"
        ),
        upper_bound=upper_bound_scores,
        code=code("tables.py"),
    output:
        summary=report(
            results("{dataset}/{experiment}/seed{seed}/summary.tsv"),
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/summarise_experiment.log"),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/summarise_experiment.py"


# One table comparing the experiments that were run (CAM, Puzzle-CAM, EADER, ...), TSV and Markdown;
# over several seeds each cell is mean ± std, with each row's paired difference from tables.baseline.


rule compare_experiments:
    input:
        summaries=summaries_of(RUN_EXPERIMENTS),
        code=code("tables.py"),
    output:
        table=report(results("{dataset}/experiments.tsv"), caption="../report/experiments.rst", category="Summary"),
        markdown=results("{dataset}/experiments.md"),
    log:
        results("{dataset}/logs/compare_experiments.log"),
    params:
        experiments=RUN_EXPERIMENTS,
        seeds=SEEDS,
        baseline=table_baseline(RUN_EXPERIMENTS),
        train_split=TRAIN_SPLIT,
        val_split=VAL_SPLIT,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/compare_experiments.py"

# One TSV per experiment with every headline number of the run, the upper bound included.


rule summarise_experiment:
    input:
        cams=expand(results("{{dataset}}/{{experiment}}/eval/cams_{split}.tsv"), split=EVAL_SPLITS),
        affinity_labels=results(f"{{dataset}}/{{experiment}}/eval/affinity_labels_{TRAIN_SPLIT}.tsv"),
        pseudo_masks=results(f"{{dataset}}/{{experiment}}/eval/pseudo_masks_{TRAIN_SPLIT}.tsv"),
        segmentation=results(f"{{dataset}}/{{experiment}}/eval/segmentation_pseudo_{VAL_SPLIT}.tsv"),
        upper_bound=results(f"{{dataset}}/{{experiment}}/eval/segmentation_gt_{VAL_SPLIT}.tsv"),
    output:
        summary=report(
            results("{dataset}/{experiment}/summary.tsv"),
            caption="../report/summary.rst",
            category="Summary",
        ),
    log:
        results("{dataset}/{experiment}/logs/summarise_experiment.log"),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/summarise_experiment.py"

# One TSV per experiment with every headline number of the run, the upper bound included.


rule summarise_experiment:
    input:
        cams=expand(results("{{dataset}}/{{experiment}}/eval/cams_{split}.tsv"), split=EVAL_SPLITS),
        affinity_labels=results("{dataset}/{experiment}/eval/affinity_labels_" + TRAIN_SPLIT + ".tsv"),
        pseudo_masks=results("{dataset}/{experiment}/eval/pseudo_masks_" + TRAIN_SPLIT + ".tsv"),
        segmentation=results("{dataset}/{experiment}/eval/segmentation_" + VAL_SPLIT + ".tsv"),
        upper_bound=results("{dataset}/" + UPPER_BOUND + "/eval/segmentation_" + VAL_SPLIT + ".tsv"),
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

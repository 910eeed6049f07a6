# One TSV per experiment with every headline number of the run.


rule summarise_experiment:
    input:
        cams=expand(results("{{dataset}}/{{experiment}}/eval/cams_{split}.tsv"), split=EVAL_SPLITS),
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

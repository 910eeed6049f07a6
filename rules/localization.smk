# Weakly supervised object localisation: the WSOL metrics of each experiment's CAMs, and their table.


rule evaluate_localization:
    input:
        model=classifier_model,
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "metrics/wsol.py",
            "metrics/wsol_protocol.py",
            "methods/boxes.py",
            "metrics/ground_truth.py",
            "stages/evaluate_localization.py",
        ),
    output:
        summary=results("{dataset}/{experiment}/seed{seed}/eval/localization_{split}.tsv"),
        per_class=results("{dataset}/{experiment}/seed{seed}/eval/localization_{split}_pxap.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/evaluate_localization_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/evaluate_localization_{split}.tsv")
    params:
        root=data_root(),
        localization=lambda wildcards: section(wildcards.experiment, "localization"),
        evaluation=config["evaluation"],
        split_folder=split_folder,
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
    threads: config["localization"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_localization.py"


rule localization_table:
    input:
        summaries=localization_of(LOCALIZATION_EXPERIMENTS),
        code=code("tables.py"),
    output:
        table=report(results("{dataset}/localization.tsv"), caption="../report/localization.rst", category="Summary"),
        markdown=results("{dataset}/localization.md"),
    log:
        results("{dataset}/logs/localization_table.log"),
    params:
        experiments=LOCALIZATION_EXPERIMENTS,
        seeds=SEEDS,
        baseline=table_baseline(LOCALIZATION_EXPERIMENTS),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/localization_table.py"


rule localization:
    """Target: the localization table of the experiments in config localization.experiments and the sweeps."""
    default_target: False
    input:
        results(f"{DATASET}/localization.tsv"),

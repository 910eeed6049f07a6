# The GAP classifier trained on image-level labels; its resumable state sits outside the outputs.


rule train_classifier:
    input:
        labels=results("{dataset}/labels.tsv"),
        code=method_code(
            "stages/train_classifier.py",
            "training/loop.py",
            "training/distributed.py",
            "training/freezing.py",
            "training/param_groups.py",
            "training/classifier.py",
            "models/classifier.py",
            "models/backbones.py",
            "methods/base.py",
            "methods/entropy.py",  # L_cls of every experiment
            "data/datasets.py",
            "data/transforms.py",
            methods="classifier/methods",
        ),
    output:
        model=results("{dataset}/{experiment}/seed{seed}/classifier/model.pt"),
        history=results("{dataset}/{experiment}/seed{seed}/classifier/history.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/train_classifier.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/train_classifier.tsv")
    params:
        root=data_root(),
        split=TRAIN_SPLIT,
        classifier=lambda wildcards: classifier_section(wildcards.experiment),
        seed=job_seed,
        multilabel=MULTILABEL,
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
        state=lambda wildcards: results(
            f"{wildcards.dataset}/{wildcards.experiment}/seed{wildcards.seed}/.state/train_classifier.pt"
        ),
    threads: config["classifier"]["threads"]
    resources:
        gpu=training_gpus("classifier"),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/train_classifier.py"

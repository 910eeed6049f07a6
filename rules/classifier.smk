# The GAP classifier trained on image-level labels; its resumable state sits outside the outputs.


rule train_classifier:
    input:
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "training/loop.py",
            "training/freezing.py",
            "training/param_groups.py",
            "training/classifier.py",
            "models/classifier.py",
            "models/backbones.py",
            "methods/puzzle.py",
            "methods/eader.py",
            "methods/entropy.py",
            "methods/gradcam.py",
            "methods/cam.py",
            "data/datasets.py",
            "data/transforms.py",
        ),
    output:
        model=results("{dataset}/{experiment}/classifier/model.pt"),
        history=results("{dataset}/{experiment}/classifier/history.tsv"),
    log:
        results("{dataset}/{experiment}/logs/train_classifier.log"),
    benchmark:
        results("{dataset}/{experiment}/benchmarks/train_classifier.tsv")
    params:
        root=data_root(),
        split=TRAIN_SPLIT,
        classifier=lambda wildcards: classifier_section(wildcards.experiment),
        seed=config["seed"],
        multilabel=MULTILABEL,
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
        state=lambda wildcards: results(f"{wildcards.dataset}/{wildcards.experiment}/.state/train_classifier.pt"),
    threads: config["classifier"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/train_classifier.py"

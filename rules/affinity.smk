# PSA step 1-2: confident affinity labels from CAMs (with dCRF), and AffinityNet trained on their pairs.


rule make_affinity_labels:
    input:
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        classifier=classifier_model,  # the cache must come from it (CamCache expect)
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "methods/cam.py",
            "refine/affinity_labels.py",
            "refine/crf.py",
            "stages/make_affinity_labels.py",
        ),
        masks=needs_masks("make_affinity_labels (the refinement branch)"),
    output:
        labels=directory(results("{dataset}/{experiment}/seed{seed}/affinity_labels/{split}")),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/make_affinity_labels_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/make_affinity_labels_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        affinity_labels=lambda wildcards: section(wildcards.experiment, "affinity_labels"),
        crf=lambda wildcards: section(wildcards.experiment, "crf"),
    threads: config["affinity_labels"]["threads"]
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_affinity_labels.py"


rule evaluate_affinity_labels:
    input:
        labels_dir=results("{dataset}/{experiment}/seed{seed}/affinity_labels/{split}"),
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "metrics/miou.py",
            "metrics/ground_truth.py",
            "refine/affinity_labels.py",
            "stages/evaluate_masks.py",
        ),
    output:
        scores=results("{dataset}/{experiment}/seed{seed}/eval/affinity_labels_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/evaluate_affinity_labels_{split}.log"),
    params:
        root=data_root(),
        evaluation=config["evaluation"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_affinity_labels.py"


rule train_affinitynet:
    input:
        affinity_labels=owned(
            "affinity_labels", f"{{dataset}}/{{experiment}}/seed{{seed}}/affinity_labels/{TRAIN_SPLIT}"
        ),
        classifier=classifier_model,
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "models/affinitynet.py",
            "refine/pairs.py",
            "stages/train_affinitynet.py",
            "training/networks.py",
            "training/affinitynet.py",
            "training/loop.py",
            "training/distributed.py",
            "training/freezing.py",
            "training/param_groups.py",
            "data/datasets.py",
            "data/transforms.py",
        ),
    output:
        model=results("{dataset}/{experiment}/seed{seed}/affinitynet/model.pt"),
        history=results("{dataset}/{experiment}/seed{seed}/affinitynet/history.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/train_affinitynet.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/train_affinitynet.tsv")
    params:
        root=data_root(),
        split=TRAIN_SPLIT,
        affinitynet=lambda wildcards: section(wildcards.experiment, "affinitynet"),
        seed=job_seed,
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
        state=lambda wildcards: results(
            f"{wildcards.dataset}/{wildcards.experiment}/seed{wildcards.seed}/.state/train_affinitynet.pt"
        ),
    threads: config["affinitynet"]["threads"]
    resources:
        gpu=training_gpus("affinitynet"),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/train_affinitynet.py"

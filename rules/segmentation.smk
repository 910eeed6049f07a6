# A DeepLab-style segmenter trained on the pseudo masks (supervision "pseudo"), and the same network
# with the same initialisation trained on the true masks of the same images (supervision "gt"):
# the fully supervised upper bound every table shows.


rule train_segmenter:
    input:
        masks=segmentation_masks,
        classifier=segmenter_init,
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "models/deeplab.py",
            "stages/train_segmenter.py",
            "training/networks.py",
            "training/segmentation.py",
            "training/loop.py",
            "training/distributed.py",
            "training/freezing.py",
            "training/param_groups.py",
            "data/datasets.py",
        ),
    output:
        model=results("{dataset}/{experiment}/seed{seed}/segmenter/{supervision}/model.pt"),
        history=results("{dataset}/{experiment}/seed{seed}/segmenter/{supervision}/history.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/train_segmenter_{supervision}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/train_segmenter_{supervision}.tsv")
    params:
        root=data_root(),
        split=TRAIN_SPLIT,
        segmentation=lambda wildcards: section(wildcards.experiment, "segmentation"),
        seed=job_seed,
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
        state=lambda wildcards: results(
            f"{wildcards.dataset}/{wildcards.experiment}/seed{wildcards.seed}/.state/train_segmenter_{wildcards.supervision}.pt"
        ),
    threads: config["segmentation"]["threads"]
    resources:
        gpu=training_gpus("segmentation"),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/train_segmenter.py"


rule segment_images:
    input:
        model=owned(segmenter_stage, "{dataset}/{experiment}/seed{seed}/segmenter/{supervision}/model.pt"),
        labels=results("{dataset}/labels.tsv"),
        code=code("stages/segment_images.py", "refine/crf.py", "refine/crf_workers.py"),
    output:
        masks=directory(results("{dataset}/{experiment}/seed{seed}/segmentation/{supervision}/{split}")),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/segment_images_{supervision}_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/segment_images_{supervision}_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        segmentation=lambda wildcards: section(wildcards.experiment, "segmentation"),
        crf=lambda wildcards: section(wildcards.experiment, "crf"),
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
    threads: config["segmentation"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/segment_images.py"


rule evaluate_segmentation:
    input:
        masks=owned(segmenter_stage, "{dataset}/{experiment}/seed{seed}/segmentation/{supervision}/{split}"),
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "metrics/ground_truth.py", "stages/evaluate_masks.py"),
    output:
        scores=results("{dataset}/{experiment}/seed{seed}/eval/segmentation_{supervision}_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/evaluate_segmentation_{supervision}_{split}.log"),
    params:
        root=data_root(),
        evaluation=config["evaluation"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_masks.py"

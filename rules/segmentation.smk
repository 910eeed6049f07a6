# A DeepLab-style segmenter trained on the pseudo masks, and the same network trained on the true
# masks of the same images (experiment "fully_supervised": the upper bound every table shows).


def segmentation_masks(wildcards):
    """Training masks: the experiment's pseudo masks, or (upper bound) the dataset's own."""
    if wildcards.experiment == UPPER_BOUND:
        return []
    return [results(f"{wildcards.dataset}/{wildcards.experiment}/pseudo_masks/{config['dataset']['train_split']}")]


rule train_segmenter:
    input:
        masks=segmentation_masks,
        labels=results("{dataset}/labels.tsv"),
        code=code("models/deeplab.py", "training/segmentation.py", "training/loop.py", "data/datasets.py"),
    output:
        model=results("{dataset}/{experiment}/segmenter/model.pt"),
        history=results("{dataset}/{experiment}/segmenter/history.tsv"),
    log:
        results("{dataset}/{experiment}/logs/train_segmenter.log"),
    benchmark:
        results("{dataset}/{experiment}/benchmarks/train_segmenter.tsv")
    params:
        root=data_root(),
        split=config["dataset"]["train_split"],
        supervision=lambda wildcards: "gt" if wildcards.experiment == UPPER_BOUND else "pseudo",
        segmentation=lambda wildcards: section(wildcards.experiment, "segmentation"),
        seed=config["seed"],
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
        state=lambda wildcards: results(f"{wildcards.dataset}/{wildcards.experiment}/.state/train_segmenter.pt"),
    threads: config["segmentation"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/train_segmenter.py"


rule segment_images:
    input:
        model=results("{dataset}/{experiment}/segmenter/model.pt"),
        labels=results("{dataset}/labels.tsv"),
        code=code("stages/segment_images.py", "refine/crf.py"),
    output:
        masks=directory(results("{dataset}/{experiment}/segmentation/{split}")),
    log:
        results("{dataset}/{experiment}/logs/segment_images_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/benchmarks/segment_images_{split}.tsv")
    params:
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
        masks=results("{dataset}/{experiment}/segmentation/{split}"),
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "stages/evaluate_masks.py"),
    output:
        scores=results("{dataset}/{experiment}/eval/segmentation_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/logs/evaluate_segmentation_{split}.log"),
    params:
        root=data_root(),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_masks.py"

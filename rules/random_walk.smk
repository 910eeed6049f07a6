# PSA step 3: CAMs propagated by a random walk on AffinityNet affinities -> pseudo masks.


rule random_walk:
    input:
        model=results("{dataset}/{experiment}/affinitynet/model.pt"),
        cams=results("{dataset}/{experiment}/cams/{split}.h5"),
        labels=results("{dataset}/labels.tsv"),
        code=code("refine/random_walk.py", "refine/pairs.py", "refine/crf.py", "stages/random_walk.py"),
    output:
        masks=directory(results("{dataset}/{experiment}/pseudo_masks/{split}")),
        scores=results("{dataset}/{experiment}/random_walk/{split}.h5"),
    log:
        results("{dataset}/{experiment}/logs/random_walk_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/benchmarks/random_walk_{split}.tsv")
    params:
        root=data_root(),
        random_walk=lambda wildcards: section(wildcards.experiment, "random_walk"),
        radius=lambda wildcards: section(wildcards.experiment, "affinitynet")["radius"],
        crf=lambda wildcards: section(wildcards.experiment, "crf"),
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
    threads: config["random_walk"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/random_walk.py"


rule evaluate_pseudo_masks:
    input:
        masks=results("{dataset}/{experiment}/pseudo_masks/{split}"),
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "stages/evaluate_masks.py"),
    output:
        scores=results("{dataset}/{experiment}/eval/pseudo_masks_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/logs/evaluate_pseudo_masks_{split}.log"),
    params:
        root=data_root(),
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_masks.py"

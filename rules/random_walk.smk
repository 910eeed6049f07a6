# PSA step 3: CAMs propagated by a random walk on AffinityNet affinities -> pseudo masks; or, for the
# "no RW" ablation (pseudo_masks.source: cams), pseudo masks from the CAMs alone.


rule random_walk:
    input:
        model=owned("affinitynet", "{dataset}/{experiment}/seed{seed}/affinitynet/model.pt"),
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        classifier=classifier_model,  # the CAM cache must come from it (CamCache expect)
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "methods/cam.py",
            "refine/random_walk.py",
            "refine/pairs.py",
            "refine/crf.py",
            "refine/crf_workers.py",
            "refine/masks.py",
            "stages/random_walk.py",
        ),
    output:
        masks=directory(results("{dataset}/{experiment}/seed{seed}/pseudo_masks/{split}")),
        scores=results("{dataset}/{experiment}/seed{seed}/random_walk/{split}.h5"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/random_walk_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/random_walk_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        random_walk=lambda wildcards: section(wildcards.experiment, "random_walk"),
        radius=lambda wildcards: section(wildcards.experiment, "affinitynet")["radius"],
        pair_set=lambda wildcards: section(wildcards.experiment, "affinitynet")["pair_set"],
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


rule make_cam_masks:
    input:
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        classifier=classifier_model,  # the CAM cache must come from it (CamCache expect)
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "methods/cam.py",
            "stages/make_cam_masks.py",
            "refine/masks.py",
            "refine/crf.py",
            "refine/crf_workers.py",
        ),
    output:
        masks=directory(results("{dataset}/{experiment}/seed{seed}/cam_masks/{split}")),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/make_cam_masks_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/make_cam_masks_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        pseudo_masks=lambda wildcards: section(wildcards.experiment, "pseudo_masks"),
        crf=lambda wildcards: section(wildcards.experiment, "crf"),
    threads: config["pseudo_masks"]["threads"]
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_cam_masks.py"


rule evaluate_pseudo_masks:
    """The experiment's training masks, from the random walk or (pseudo_masks.source cams) the CAMs alone."""
    input:
        masks=pseudo_mask_input,
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "metrics/ground_truth.py", "stages/evaluate_masks.py"),
    output:
        scores=results("{dataset}/{experiment}/seed{seed}/eval/pseudo_masks_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/evaluate_pseudo_masks_{split}.log"),
    params:
        root=data_root(),
        evaluation=config["evaluation"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_masks.py"

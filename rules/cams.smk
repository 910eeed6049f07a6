# CAMs into one HDF5 cache per split, and their mIoU against the ground-truth masks.


rule make_cams:
    input:
        model=classifier_model,
        labels=results("{dataset}/labels.tsv"),
        code=method_code(
            "methods/cam.py",
            "methods/base.py",
            "data/transforms.py",
            "io/h5cache.py",
            "io/shards.py",
            "stages/make_cams.py",
            methods="cams/attention",
        ),
    output:
        cams=results("{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/make_cams_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/seed{seed}/benchmarks/make_cams_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        cams=lambda wildcards: section(wildcards.experiment, "cams"),
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
    # the cams.num_workers decoding processes count in it: torch gets the rest, at least 1 thread
    threads: config["cams"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_cams.py"


rule evaluate_cams:
    input:
        cams=owned("cams", "{dataset}/{experiment}/seed{seed}/cams/{split}.h5"),
        classifier=classifier_model,  # the cache must come from it (CamCache expect)
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "metrics/ground_truth.py", "methods/cam.py", "stages/evaluate_cams.py"),
        masks=needs_masks("evaluate_cams (CAM mIoU)"),
    output:
        sweep=results("{dataset}/{experiment}/seed{seed}/eval/cams_{split}_sweep.tsv"),
        summary=results("{dataset}/{experiment}/seed{seed}/eval/cams_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/seed{seed}/logs/evaluate_cams_{split}.log"),
    params:
        root=data_root(),
        evaluate=lambda wildcards: section(wildcards.experiment, "evaluate_cams"),
        evaluation=config["evaluation"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_cams.py"

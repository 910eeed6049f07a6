# CAMs into one HDF5 cache per split, and their mIoU against the ground-truth masks.


rule make_cams:
    input:
        model=classifier_model,
        labels=results("{dataset}/labels.tsv"),
        code=code(
            "methods/cam.py",
            "methods/gradcam.py",
            "data/transforms.py",
            "io/h5cache.py",
            "stages/make_cams.py",
        ),
    output:
        cams=results("{dataset}/{experiment}/cams/{split}.h5"),
    log:
        results("{dataset}/{experiment}/logs/make_cams_{split}.log"),
    benchmark:
        results("{dataset}/{experiment}/benchmarks/make_cams_{split}.tsv")
    params:
        shards=config["shards"],
        root=data_root(),
        cams=lambda wildcards: section(wildcards.experiment, "cams"),
        device=config["device"],
        allow_cpu_fallback=config["allow_cpu_fallback"],
    threads: config["cams"]["threads"]
    resources:
        gpu=1,
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_cams.py"


rule evaluate_cams:
    input:
        cams=owned("cams", "{dataset}/{experiment}/cams/{split}.h5"),
        classifier=classifier_model,  # the cache must come from it (CamCache expect)
        labels=results("{dataset}/labels.tsv"),
        code=code("metrics/miou.py", "methods/cam.py", "stages/evaluate_cams.py", "stages/evaluate_masks.py"),
        masks=needs_masks("evaluate_cams (CAM mIoU)"),
    output:
        sweep=results("{dataset}/{experiment}/eval/cams_{split}_sweep.tsv"),
        summary=results("{dataset}/{experiment}/eval/cams_{split}.tsv"),
    log:
        results("{dataset}/{experiment}/logs/evaluate_cams_{split}.log"),
    params:
        root=data_root(),
        evaluate=lambda wildcards: section(wildcards.experiment, "evaluate_cams"),
        evaluation=config["evaluation"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/evaluate_cams.py"

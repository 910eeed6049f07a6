# Data: the embedded synthetic dataset and the image-level label table every later stage reads.


rule make_synthetic_dataset:
    input:
        code=code("data/synthetic.py"),
    output:
        root=directory(results("{dataset}/data")),
    log:
        results("{dataset}/logs/make_synthetic_dataset.log"),
    benchmark:
        results("{dataset}/benchmarks/make_synthetic_dataset.tsv")
    params:
        synthetic=config["synthetic"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_synthetic_dataset.py"


rule make_labels:
    input:
        data=dataset_inputs,
        code=code("data/labels.py", "data/voc.py", "data/wsol_layout.py"),
    output:
        labels=results("{dataset}/labels.tsv"),
    log:
        results("{dataset}/logs/make_labels.log"),
    params:
        root=data_root(),
        splits=config["dataset"]["splits"],
        decode_check=config["dataset"]["decode_check"],
        label_source=config["dataset"]["label_source"],
        num_classes=config["dataset"]["wsol"]["num_classes"],
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_labels.py"

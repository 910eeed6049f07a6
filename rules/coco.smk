# MS COCO 2014 (dataset.kind coco): its instances converted once into the VOC layout every later stage reads.


rule make_coco_masks:
    """Semantic masks (0 background, 1..80 in category-id order), split lists, annotation XMLs (the
    image-level labels), class names and image links under results/<dataset>/coco_layout/; the TSV beside
    it counts, per split, the images kept and those skipped for having no annotation."""
    input:
        annotations=coco_instances,
        code=code("data/coco.py"),
    output:
        root=directory(results("{dataset}/coco_layout")),
        summary=results("{dataset}/coco_layout.tsv"),
    log:
        results("{dataset}/logs/make_coco_masks.log"),
    benchmark:
        results("{dataset}/benchmarks/make_coco_masks.tsv")
    params:
        coco_root=config["dataset"]["root"],
        splits=config["dataset"]["coco"]["splits"],
        max_images=config["dataset"]["coco"]["max_images"],
    threads: config["dataset"]["coco"]["threads"]
    conda:
        "../envs/wsss.yaml"
    script:
        "../workflow_scripts/make_coco_masks.py"

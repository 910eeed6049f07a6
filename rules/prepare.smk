# Data preparation: VOC2012/SegmentationClassAug/ and ImageSets/Segmentation/train_aug.txt from SBD, written
# into the VOC2012 folder (wsss/data/sbd.py). One command: `snakemake --cores 2 prepare --config
# prepare='{voc_root: /data/VOCdevkit/VOC2012, sbd_root: /data/benchmark_RELEASE}'`.

if PREPARE_VOC is not None and PREPARE_SBD is not None:

    rule prepare_voc_sbd:
        input:
            unpack(prepare_lists),
            code=code("data/sbd.py", "data/sbd_layout.py"),
        output:
            masks=directory(f"{PREPARE_VOC}/{AUG_DIR}"),
            train_aug=f"{PREPARE_VOC}/{TRAIN_AUG_LIST}",
        log:
            results("prepare/logs/prepare_voc_sbd.log"),
        benchmark:
            results("prepare/benchmarks/prepare_voc_sbd.tsv")
        params:
            voc_root=PREPARE_VOC,
            sbd_root=PREPARE_SBD,
        threads: config["prepare"]["threads"]
        conda:
            "../envs/wsss.yaml"
        script:
            "../workflow_scripts/prepare_voc_sbd.py"


rule prepare:
    """Target: SegmentationClassAug/ and ImageSets/Segmentation/train_aug.txt in the VOC2012 folder, from SBD."""
    default_target: False
    input:
        prepare_targets,

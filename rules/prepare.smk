# Data preparation: VOC2012/SegmentationClassAug/ and ImageSets/Segmentation/train_aug.txt from SBD, written
# into the VOC2012 folder (wsss/data/sbd.py). One command: `snakemake --cores 2 prepare --config
# prepare='{voc_root: /data/VOCdevkit/VOC2012, sbd_root: /data/benchmark_RELEASE}'`.
from wsss.data.sbd import AUG_DIR, TRAIN_AUG_LIST, list_files, sbd_dataset_root
from wsss.errors import DatasetError


def prepare_roots():
    """(VOC2012 folder, SBD dataset folder) of config prepare, None where not set; voc_root defaults to
    dataset.root when dataset.kind is voc, spelt as given, so that the outputs are the very paths that
    make_labels reads for a train_aug split."""
    voc, sbd = config["prepare"]["voc_root"], config["prepare"]["sbd_root"]
    if voc is None and config["dataset"]["kind"] == "voc":
        voc = config["dataset"]["root"]
    return (voc or None), (str(sbd_dataset_root(sbd)) if sbd else None)


PREPARE_VOC, PREPARE_SBD = prepare_roots()


def prepare_targets(wildcards):
    """What target `prepare` builds; one line naming the config key where a root is not set."""
    if PREPARE_SBD is None:
        raise WorkflowError("config key prepare.sbd_root: required for target prepare (SBD's benchmark_RELEASE folder)")
    if PREPARE_VOC is None:
        raise WorkflowError("config key prepare.voc_root: required for target prepare (the VOC2012 folder)")
    return [f"{PREPARE_VOC}/{AUG_DIR}", f"{PREPARE_VOC}/{TRAIN_AUG_LIST}"]


def prepare_lists(wildcards):
    """The SBD and VOC split lists, each checked to exist before any job (one line naming a missing one)."""
    try:
        return {name: str(path) for name, path in list_files(PREPARE_VOC, PREPARE_SBD).items()}
    except DatasetError as error:
        raise WorkflowError(str(error)) from None


if PREPARE_VOC is not None and PREPARE_SBD is not None:

    rule prepare_voc_sbd:
        input:
            unpack(prepare_lists),
            code=code("data/sbd.py"),
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

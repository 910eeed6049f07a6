"""SegmentationClassAug and train_aug.txt from SBD: the masks are the .mat arrays and VOC's masks pixel
for pixel, the list is the recipe, and bad input stops with one line naming the file."""

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from PIL import Image

from wsss.data.classes import voc_palette
from wsss.data.sbd import mask_sources, prepare_voc_sbd, read_sbd_segmentation, train_aug_ids
from wsss.data.voc import VOCLayout, read_split
from wsss.errors import DatasetError

from workflow_helpers import planned_jobs, snakemake, write_config

# SBD and VOC overlap as on the real data: 2007_000020 is in SBD train and VOC train, 2007_000010 and
# 2007_000030 are in SBD and VOC val, 2007_000040 and 2007_000050 are only in VOC.
SBD_TRAIN = ["2008_000003", "2008_000001", "2007_000010", "2007_000020"]
SBD_VAL = ["2008_000005", "2007_000030"]
VOC_TRAIN = ["2007_000020", "2007_000040"]
VOC_VAL = ["2007_000010", "2007_000030", "2007_000050"]
#: (SBD train | SBD val | VOC train) - VOC val, sorted, worked out by hand
TRAIN_AUG = ["2007_000020", "2007_000040", "2008_000001", "2008_000003", "2008_000005"]
#: where each mask of SegmentationClassAug comes from (train_aug and VOC val ids), by hand
SOURCES = {"2007_000010": "voc", "2007_000020": "voc", "2007_000030": "voc", "2007_000040": "voc",
           "2007_000050": "voc", "2008_000001": "sbd", "2008_000003": "sbd", "2008_000005": "sbd"}


def write_sbd_mat(path, segmentation, fields=("Boundaries", "Segmentation", "CategoriesPresent"), name="GTcls"):
    """An SBD cls .mat: the struct GTcls with a 20x1 cell of sparse boundary maps, the class mask, the classes."""
    values = {
        "Boundaries": np.array([[scipy.sparse.csc_matrix(segmentation == k)] for k in range(1, 21)], dtype=object),
        "Segmentation": segmentation,
        "CategoriesPresent": np.unique(segmentation[segmentation > 0]).reshape(-1, 1).astype(np.uint8),
    }
    scipy.io.savemat(path, {name: {field: values[field] for field in fields}})


def write_palette_png(path, mask):
    image = Image.fromarray(mask, mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    image.save(path)


def make_tiny(tmp_path):
    """A VOC2012 folder and SBD's benchmark_RELEASE/dataset in tmp_path; returns (voc, sbd release, arrays)
    where arrays[id] = {'sbd': .mat Segmentation, 'voc': VOC mask} for the sources the id has."""
    rng = np.random.default_rng(0)
    voc, release = tmp_path / "VOC2012", tmp_path / "benchmark_RELEASE"
    sbd = release / "dataset"
    for folder in (voc / "JPEGImages", voc / "SegmentationClass", voc / "ImageSets/Segmentation", sbd / "cls"):
        folder.mkdir(parents=True)
    arrays = {}
    for k, image_id in enumerate(sorted(set(SBD_TRAIN + SBD_VAL + VOC_TRAIN + VOC_VAL))):
        shape = (6 + k, 9 + 2 * k)  # every image its own size
        Image.fromarray(rng.integers(0, 256, (*shape, 3), dtype=np.uint8)).save(voc / "JPEGImages" / f"{image_id}.jpg")
        arrays[image_id] = {}
        if image_id in SBD_TRAIN + SBD_VAL:
            segmentation = rng.integers(0, 21, shape, dtype=np.uint8)
            segmentation[0, :2] = (0, 20)  # both ends of the range
            write_sbd_mat(sbd / "cls" / f"{image_id}.mat", segmentation)
            arrays[image_id]["sbd"] = segmentation
        if image_id in VOC_TRAIN + VOC_VAL:
            mask = rng.integers(0, 21, shape, dtype=np.uint8)
            mask[:, 0] = 255  # void, as along VOC's object borders
            write_palette_png(voc / "SegmentationClass" / f"{image_id}.png", mask)
            arrays[image_id]["voc"] = mask
    for path, ids in ((sbd / "train.txt", SBD_TRAIN), (sbd / "val.txt", SBD_VAL),
                      (voc / "ImageSets/Segmentation/train.txt", VOC_TRAIN),
                      (voc / "ImageSets/Segmentation/val.txt", VOC_VAL)):
        path.write_text("".join(f"{image_id}\n" for image_id in ids))
    return voc, release, arrays


def read_png(path):
    with Image.open(path) as image:
        return image.mode, np.array(image)


def check_outputs(voc, arrays):
    """The list is TRAIN_AUG and every mask is its source's array exactly (VOC's where VOC has one)."""
    assert (voc / "ImageSets/Segmentation/train_aug.txt").read_text() == "".join(f"{i}\n" for i in TRAIN_AUG)
    assert read_split(voc / "ImageSets/Segmentation/train_aug.txt") == TRAIN_AUG
    folder = voc / "SegmentationClassAug"
    assert sorted(path.stem for path in folder.glob("*.png")) == sorted(SOURCES)
    for image_id, source in SOURCES.items():
        mode, mask = read_png(folder / f"{image_id}.png")
        assert mode == "P" and mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, arrays[image_id][source])
        assert (255 in mask) == (source == "voc")  # SBD marks no void
        assert VOCLayout(voc).mask(image_id) == folder / f"{image_id}.png"  # the reader takes it first
    assert not (voc / "SegmentationClassAug.partial").exists()


def test_the_mat_array_is_read_unchanged(tmp_path):
    segmentation = np.random.default_rng(1).integers(0, 21, (5, 7), dtype=np.uint8)
    write_sbd_mat(tmp_path / "a.mat", segmentation)
    read = read_sbd_segmentation(tmp_path / "a.mat")
    assert read.dtype == np.uint8
    np.testing.assert_array_equal(read, segmentation)
    write_sbd_mat(tmp_path / "b.mat", segmentation.astype(np.float64), fields=("Segmentation",))  # MATLAB double
    np.testing.assert_array_equal(read_sbd_segmentation(tmp_path / "b.mat"), segmentation)


def test_train_aug_is_the_recipe():
    assert train_aug_ids(SBD_TRAIN, SBD_VAL, VOC_TRAIN, VOC_VAL) == TRAIN_AUG
    assert mask_sources(TRAIN_AUG, VOC_TRAIN, VOC_VAL) == SOURCES
    assert list(mask_sources(TRAIN_AUG, VOC_TRAIN, VOC_VAL)) == sorted(SOURCES)


@pytest.mark.parametrize("threads", [1, 2])
def test_prepare_writes_the_masks_and_the_list(tmp_path, threads):
    voc, release, arrays = make_tiny(tmp_path)
    stats = prepare_voc_sbd(voc, release, threads=threads, progress=False)
    check_outputs(voc, arrays)
    assert stats == {"train_aug": 5, "masks": 8, "from_voc": 5, "from_sbd": 3, "resumed": 0}


def remove(path):
    path.unlink()


@pytest.mark.parametrize("damage, problem", [
    (lambda voc, sbd: remove(sbd / "train.txt"), "{sbd}/train.txt: SBD split list does not exist"),
    (lambda voc, sbd: remove(sbd / "val.txt"), "{sbd}/val.txt: SBD split list does not exist"),
    (lambda voc, sbd: remove(voc / "ImageSets/Segmentation/train.txt"),
     "{voc}/ImageSets/Segmentation/train.txt: VOC split list does not exist"),
    (lambda voc, sbd: remove(voc / "ImageSets/Segmentation/val.txt"),
     "{voc}/ImageSets/Segmentation/val.txt: VOC split list does not exist"),
    (lambda voc, sbd: remove(sbd / "cls/2008_000003.mat"),
     "{sbd}/cls/2008_000003.mat: SBD .mat file of 2008_000003 (listed in {sbd}/train.txt) does not exist"),
    (lambda voc, sbd: remove(voc / "JPEGImages/2008_000005.jpg"),
     "{voc}/JPEGImages/2008_000005.jpg: image of 2008_000005 (listed in {sbd}/val.txt) does not exist"),
    (lambda voc, sbd: remove(voc / "SegmentationClass/2007_000050.png"),
     "{voc}/SegmentationClass/2007_000050.png: VOC mask of 2007_000050 (listed in "
     "{voc}/ImageSets/Segmentation/val.txt) does not exist"),
], ids=["sbd_train_list", "sbd_val_list", "voc_train_list", "voc_val_list", "mat", "jpeg", "voc_mask"])
def test_a_missing_file_stops_before_any_mask_is_written(tmp_path, damage, problem):
    voc, release, _ = make_tiny(tmp_path)
    damage(voc, release / "dataset")
    with pytest.raises(DatasetError) as error:
        prepare_voc_sbd(voc, release, progress=False)
    assert str(error.value) == problem.format(voc=voc, sbd=release / "dataset")
    assert not (voc / "SegmentationClassAug").exists() and not (voc / "SegmentationClassAug.partial").exists()
    assert not (voc / "ImageSets/Segmentation/train_aug.txt").exists()


@pytest.mark.parametrize("write, problem", [
    (lambda path, seg: write_sbd_mat(path, seg, name="GTinst"),
     ".mat file has no GTcls struct (variables: ['GTinst'])"),
    (lambda path, seg: write_sbd_mat(path, seg, fields=("Boundaries", "CategoriesPresent")),
     "GTcls has no Segmentation field (fields: ['Boundaries', 'CategoriesPresent'])"),
    (lambda path, seg: write_sbd_mat(path, np.where(seg == seg[1, 1], 21, seg).astype(np.uint8)),
     "GTcls.Segmentation has values [21] outside 0..20"),
    (lambda path, seg: write_sbd_mat(path, np.where(seg == seg[1, 1], 255, seg).astype(np.uint8)),
     "GTcls.Segmentation has values [255] outside 0..20"),
    (lambda path, seg: write_sbd_mat(path, seg[:, 1:]), "mask size"),
    (lambda path, seg: path.write_bytes(b"MATLAB 5.0 MAT-file, truncated"), "cannot read .mat file"),
], ids=["no_gtcls", "no_segmentation", "value_21", "value_255", "size", "unreadable"])
def test_a_bad_mat_stops_with_one_line_and_a_rerun_resumes(tmp_path, write, problem):
    voc, release, arrays = make_tiny(tmp_path)
    path = release / "dataset/cls/2008_000003.mat"  # the 7th of the 8 masks in id order
    write(path, arrays["2008_000003"]["sbd"])
    with pytest.raises(DatasetError) as error:
        prepare_voc_sbd(voc, release, progress=False)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message
    assert not (voc / "SegmentationClassAug").exists()
    assert not (voc / "ImageSets/Segmentation/train_aug.txt").exists()
    assert len(list((voc / "SegmentationClassAug.partial").glob("*.png"))) == 6  # kept for the rerun
    write_sbd_mat(path, arrays["2008_000003"]["sbd"])
    assert prepare_voc_sbd(voc, release, progress=False)["resumed"] == 6
    check_outputs(voc, arrays)


@pytest.mark.workflow
def test_one_command_prepares_voc_from_sbd(tmp_path):
    voc, release, arrays = make_tiny(tmp_path / "data")
    write_config(tmp_path)
    command = ["prepare", "--config", f"prepare={{voc_root: {voc}, sbd_root: {release}}}"]
    snakemake(tmp_path, *command)
    check_outputs(voc, arrays)
    assert (voc / "SegmentationClassAug/provenance.json").is_file()
    assert "8 masks: 5 from VOC, 3 from SBD" in (tmp_path / "results/prepare/logs/prepare_voc_sbd.log").read_text()
    assert (tmp_path / "results/prepare/benchmarks/prepare_voc_sbd.tsv").is_file()
    # done: nothing reruns, also when voc_root comes from dataset.root (the same outputs)
    assert planned_jobs(tmp_path, "prepare", "--config", f"prepare={{sbd_root: {release}}}",
                        f"dataset={{kind: voc, root: {voc}}}") == {}


@pytest.mark.workflow
def test_the_dag_names_a_missing_list_or_root_in_one_line(tmp_path):
    voc, release, _ = make_tiny(tmp_path / "data")
    (voc / "ImageSets/Segmentation/val.txt").unlink()
    write_config(tmp_path)
    out = snakemake(tmp_path, "prepare", "--config", f"prepare={{voc_root: {voc}, sbd_root: {release}}}", check=False)
    assert out.returncode != 0
    assert f"{voc}/ImageSets/Segmentation/val.txt: VOC split list does not exist" in out.stdout + out.stderr
    assert not (tmp_path / "results/prepare").exists()  # no job started
    out = snakemake(tmp_path, "prepare", "-n", check=False)
    assert out.returncode != 0
    assert "config key prepare.sbd_root: required for target prepare" in out.stdout + out.stderr

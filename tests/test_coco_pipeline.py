"""dataset.kind coco through the real Snakefile: a tiny synthetic COCO tree (wsss/data/synthetic_coco.py)
converted by make_coco_masks and run end to end (marker `workflow`); bad COCO input stopping the DAG in
make_coco_masks, before any training, with one line naming the file; the COCO paper configs' DAGs."""

import json

import pandas as pd
import pytest
import yaml

from test_paper_configs import CONFIGS, dry_run, jobs_of
from wsss.data.synthetic_coco import COCO2014_CATEGORIES, write_synthetic_coco
from wsss.io.checkpoint import load
from wsss.predict import checkpoint_kind

from workflow_helpers import planned_jobs, snakemake, write_config

COCO_CLASSES = [name for _, name in COCO2014_CATEGORIES]  # COCO's 80, in id order: mask values 1..80


def coco_config(folder, root, **dataset):
    write_config(folder, {"dataset": {"name": "tinycoco", "kind": "coco", "root": str(root), "label_source": "xml",
                                      **dataset},
                          "localization": {"experiments": ["cam"]}})


@pytest.fixture(scope="module")
def coco_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tinycoco")
    # all 80 categories, listed in reverse id order; the objects are of the first 20 listed (ids 90 down to 67)
    write_synthetic_coco(folder / "coco", n_train=16, n_val=8, image_size=64, categories=COCO2014_CATEGORIES[::-1])
    coco_config(folder, folder / "coco", coco={"max_images": {"val": 6}})
    snakemake(folder)
    return folder


@pytest.mark.workflow
def test_the_whole_dag_runs_on_coco_with_its_class_names(coco_run):
    out = coco_run / "results/tinycoco"
    summary = pd.read_csv(out / "coco_layout.tsv", sep="\t").set_index("split")
    assert summary.loc["train", ["images", "without_annotations"]].tolist() == [16, 1]
    assert summary.loc["val", "images"] == 6  # dataset.coco.max_images
    labels = pd.read_csv(out / "labels.tsv", sep="\t")
    assert list(labels.columns[6:]) == COCO_CLASSES
    assert labels.groupby("split").size().to_dict() == {"train": 16, "val": 6}
    iou_columns = [f"iou_{name}" for name in ["background", *COCO_CLASSES]]
    assert len(iou_columns) == 81
    for table in ("cams_train", "cams_val", "pseudo_masks_train", "segmentation_pseudo_val", "segmentation_gt_val"):
        scores = pd.read_csv(out / f"cam/seed0/eval/{table}.tsv", sep="\t")
        assert [c for c in scores.columns if c.startswith("iou_")] == iou_columns, table
        ious = scores[iou_columns].iloc[0]
        assert ious.notna().sum() >= 2 and ious.dropna().between(0, 1).all(), table
    assert pd.read_csv(out / "cam/seed0/eval/cams_val.tsv", sep="\t").at[0, "n_images"] == 6
    assert len(list((out / "cam/seed0/pseudo_masks/train").glob("*.png"))) == 16  # the random walk's
    assert len(list((out / "cam/seed0/segmentation/pseudo/val").glob("*.png"))) == 6
    stages = set(pd.read_csv(out / "cam/seed0/summary.tsv", sep="\t")["stage"])
    assert stages == {"cam", "affinity_labels", "pseudo_masks", "segmentation", "fully_supervised"}
    assert (out / "cam/seed0/figures/per_class_iou.png").stat().st_size > 0
    for path, kind in (("classifier/model.pt", "classifier"), ("segmenter/pseudo/model.pt", "segmenter")):
        checkpoint = load(out / "cam/seed0" / path)
        assert checkpoint_kind(checkpoint) == kind
        assert checkpoint["arch"]["num_classes"] == len(COCO_CLASSES) + (kind == "segmenter")  # + background
    assert planned_jobs(coco_run) == {}


@pytest.mark.workflow
def test_a_conversion_setting_reruns_the_conversion_and_what_reads_it(coco_run):
    coco_config(coco_run, coco_run / "coco", coco={"max_images": {"val": 5}})
    jobs = planned_jobs(coco_run)
    coco_config(coco_run, coco_run / "coco", coco={"max_images": {"val": 6}})
    assert jobs["make_coco_masks"] == 1 and jobs["make_labels"] == 1 and jobs["train_classifier"] == 1
    assert planned_jobs(coco_run) == {}


def _unknown_category(root):
    path = root / "annotations" / "instances_train2014.json"
    data = json.loads(path.read_text())
    data["annotations"][2]["category_id"] = 91
    path.write_text(json.dumps(data))
    return f"instances_train2014.json: annotation 3 (image {data['annotations'][2]['image_id']}) has category id 91"


def _captions(root):
    path = root / "annotations" / "instances_val2014.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({"images": data["images"], "annotations": [{"id": 1, "image_id": 2000,
                                                                           "caption": "a car"}]}))
    return "instances_val2014.json: not a COCO instances file: it has no list ['categories']"


def _missing_image(root):
    (root / "train2014" / "COCO_train2014_000000001002.jpg").unlink()
    return "train2014/COCO_train2014_000000001002.jpg: image file of COCO image id 1002 (listed in"


@pytest.mark.parametrize("damage", [_unknown_category, _captions, _missing_image], ids=lambda f: f.__name__[1:])
def test_bad_coco_input_stops_the_dag_before_training_with_one_line(tmp_path, damage):
    write_synthetic_coco(tmp_path / "coco", n_train=4, n_val=2, image_size=48)
    problem = damage(tmp_path / "coco")
    coco_config(tmp_path, tmp_path / "coco")
    out = snakemake(tmp_path, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert problem in text, text[-3000:]
    assert not (tmp_path / "results/tinycoco/labels.tsv").exists()
    assert "rule train_classifier" not in text  # never started


def test_a_split_the_conversion_does_not_make_is_a_config_error(tmp_path):
    write_synthetic_coco(tmp_path / "coco", n_train=2, n_val=2, image_size=48)
    coco_config(tmp_path, tmp_path / "coco", splits={"train_voc": "ImageSets/Segmentation/train.txt"})
    out = snakemake(tmp_path, "-n", check=False)
    assert out.returncode != 0
    assert ("config key dataset.splits: split 'train_voc' is not one of dataset.coco.splits ['train', 'val']"
            in out.stdout + out.stderr)


COCO_PAPERS = {"coco14_psa.yaml": ["cam"], "coco14_cam.yaml": ["cam"], "coco14_puzzlecam.yaml": ["cam", "puzzle"]}


@pytest.mark.parametrize("name", sorted(COCO_PAPERS))
def test_coco_paper_config_builds_its_dag_on_a_coco_tree(tmp_path, name):
    write_synthetic_coco(tmp_path / "coco", n_train=2, n_val=2, image_size=48)
    stand_in = tmp_path / "stand_in.yaml"
    stand_in.write_text(yaml.safe_dump({"dataset": {"root": str(tmp_path / "coco")}}))
    configs = [CONFIGS / "coco14_psa.yaml"] + ([CONFIGS / name] if name != "coco14_psa.yaml" else []) + [stand_in]
    out = dry_run(tmp_path, configs)
    assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
    jobs = jobs_of(out)
    experiments = COCO_PAPERS[name]
    assert yaml.safe_load((CONFIGS / name).read_text()).get("run_experiments", ["cam"]) == experiments
    assert jobs["make_coco_masks"] == 1 and jobs["make_labels"] == 1
    assert jobs["train_classifier"] == len(experiments) and jobs["random_walk"] == len(experiments)
    assert jobs["evaluate_cams"] == 2 * len(experiments)  # train2014 and val2014

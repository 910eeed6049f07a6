"""python -m wsss.predict: masks and overlays of a folder of new images from a segmenter or a classifier."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from wsss.data.classes import VOC_CLASSES, voc_palette
from wsss.data.synthetic import generate_synthetic_voc
from wsss.data.voc import load_image
from wsss.figures import blend, label_colours
from wsss.io.checkpoint import save_atomic
from wsss.io.png import read_label_png, write_label_png
from wsss.models.affinitynet import build_affinitynet
from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.models.loading import load_classifier, load_segmenter
from wsss.predict import main, present_classes
from wsss.runtime import as_attributes
from wsss.stages.make_cam_masks import write_cam_masks
from wsss.stages.make_cams import write_cam_cache
from wsss.stages.segment_images import write_segmentation

REPO = Path(__file__).resolve().parent.parent
#: The classes the test classifier's head makes present: one on each half of the feature channels.
CLASS_A, CLASS_B = 5, 9


def save_model(path: Path, model, kind: str, multilabel: bool = True) -> Path:
    """A model saved as train_segmenter / train_classifier / train_affinitynet save it."""
    arch = {"backbone": "smallnet", "output_stride": 8, **({"num_classes": 20} if kind == "classifier" else {})}
    record = {"config": {"backbone": "smallnet", "seed": 0, **({"multilabel": multilabel} if kind == "classifier"
                                                                 else {})},
              "inputs_sha256": {}, "wsss_version": "test", "git_describe": "test"}
    save_atomic({"arch": arch, "state_dict": model.cpu().state_dict(), "history": [], **as_attributes(record)}, path)
    return path


def two_class_classifier():
    """A smallnet classifier whose only positive class maps are CLASS_A (channels 0..63) and CLASS_B (64..127)."""
    torch.manual_seed(0)
    model = build_classifier("smallnet", output_stride=8, num_classes=20)
    with torch.no_grad():
        weight = model.head.weight  # (20, 128, 1, 1); the features are ReLU outputs, >= 0
        weight.fill_(-1.0)
        weight[CLASS_A - 1] = 0.0
        weight[CLASS_A - 1, :64] = 1.0
        weight[CLASS_B - 1] = 0.0
        weight[CLASS_B - 1, 64:] = 1.0
    return model


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    """A synthetic VOC-layout dataset of four 32-px images (JPEGImages/*.jpg)."""
    root = tmp_path_factory.mktemp("voc")
    generate_synthetic_voc(root, seed=1, n_train=3, n_val=1, image_size=32, progress=False)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """model.pt files of a seeded segmenter, the two-class classifier (multi- and single-label) and an AffinityNet."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    paths = {"segmenter": save_model(folder / "segmenter.pt", build_segmenter("smallnet", output_stride=8),
                                     "segmenter"),
             "classifier": save_model(folder / "classifier.pt", two_class_classifier(), "classifier"),
             "single_label": save_model(folder / "single.pt", two_class_classifier(), "classifier",
                                        multilabel=False),
             "affinitynet": save_model(folder / "affinitynet.pt", build_affinitynet("smallnet", output_stride=8),
                                       "affinitynet")}
    return paths


def predict(capsys, model, images, out, *extra):
    """Run the CLI in-process: (exit status, stdout, stderr)."""
    rc = main(["--model", str(model), "--images", str(images), "--out", str(out), "--device", "cpu",
               "--threads", "1", *extra])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def masks_of(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: read_label_png(p) for p in sorted(folder.glob("*.png"))}


def test_segmenter_writes_palette_masks_and_overlays_of_each_image_size(voc, models, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for image_id in ("train_00000", "train_00001"):
        shutil.copy(voc / "JPEGImages" / f"{image_id}.jpg", images / f"{image_id}.JPG")
    rgba = Image.open(voc / "JPEGImages" / "val_00000.jpg").convert("RGBA").resize((40, 24))
    rgba.save(images / "wide.png")
    (images / "notes.txt").write_text("not an image")
    (images / "nested").mkdir()
    shutil.copy(voc / "JPEGImages" / "train_00002.jpg", images / "nested" / "deep.jpg")  # not recursive
    rc, out, _ = predict(capsys, models["segmenter"], images, tmp_path / "out")
    assert rc == 0, out
    sizes = {"train_00000": (32, 32), "train_00001": (32, 32), "wide": (24, 40)}
    for folder in ("masks", "overlays"):
        assert sorted(p.name for p in (tmp_path / "out" / folder).iterdir()) == [f"{s}.png" for s in sorted(sizes)]
    for stem, size in sizes.items():
        with Image.open(tmp_path / "out" / "masks" / f"{stem}.png") as mask_png:
            assert mask_png.mode == "P"
            assert np.array_equal(np.array(mask_png.getpalette()).reshape(-1, 3)[:256], voc_palette()[:256])
        mask = read_label_png(tmp_path / "out" / "masks" / f"{stem}.png")
        assert mask.shape == size and mask.max() <= 20
        with Image.open(tmp_path / "out" / "overlays" / f"{stem}.png") as overlay_png:
            assert overlay_png.mode == "RGB"
            overlay = np.array(overlay_png)
        image = load_image(next(images.glob(f"{stem}.*")))
        assert np.array_equal(overlay, blend(image, label_colours(mask), 0.5))
    assert "3 images segmented" in out


@pytest.mark.parametrize("crf,flip", [(False, True), (True, False)])
def test_segmenter_masks_equal_the_segment_images_stage(voc, models, tmp_path, capsys, crf, flip):
    rows = pd.DataFrame({"image_id": sorted(p.stem for p in (voc / "JPEGImages").glob("*.jpg"))})
    write_segmentation(load_segmenter(models["segmenter"], "cpu"), voc, rows, tmp_path / "stage", scales=[1.0, 0.5],
                       flip=flip, crf={} if crf else None, device="cpu", progress=False)
    rc, _, _ = predict(capsys, models["segmenter"], voc / "JPEGImages", tmp_path / "out", "--scales", "1.0", "0.5",
                       *(["--crf"] if crf else []), *([] if flip else ["--no-flip"]))
    assert rc == 0
    stage, predicted = masks_of(tmp_path / "stage"), masks_of(tmp_path / "out" / "masks")
    assert sorted(predicted) == sorted(stage) == list(rows["image_id"])
    assert all(np.array_equal(predicted[i], stage[i]) for i in stage)


def test_a_segmenter_whose_head_predicts_one_class_paints_every_pixel_with_it(voc, tmp_path, capsys):
    torch.manual_seed(1)
    model = build_segmenter("smallnet", output_stride=8)
    with torch.no_grad():
        classifier = model.head[-1]  # the final 1x1 conv to 21 logits
        classifier.weight.zero_()
        classifier.bias.zero_()
        classifier.bias[12] = 10.0
    path = save_model(tmp_path / "dog.pt", model, "segmenter")
    rc, _, _ = predict(capsys, path, voc / "JPEGImages", tmp_path / "out")
    assert rc == 0
    masks = masks_of(tmp_path / "out" / "masks")
    assert len(masks) == 4 and all((m == 12).all() for m in masks.values())
    overlay = np.array(Image.open(tmp_path / "out" / "overlays" / "train_00000.png"))
    image = load_image(voc / "JPEGImages" / "train_00000.jpg")
    assert np.array_equal(overlay, blend(image, np.broadcast_to(voc_palette()[12], image.shape), 0.5))


def test_rerun_skips_finished_images_and_redoes_half_finished_ones(voc, models, tmp_path, capsys):
    out = tmp_path / "out"
    assert predict(capsys, models["segmenter"], voc / "JPEGImages", out)[0] == 0
    sentinel = np.full((32, 32), 17, np.uint8)
    write_label_png(out / "masks" / "train_00000.png", sentinel)  # finished: must be left alone
    write_label_png(out / "masks" / "train_00001.png", sentinel)  # its overlay lost: must be redone
    (out / "overlays" / "train_00001.png").unlink()
    rc, stdout, _ = predict(capsys, models["segmenter"], voc / "JPEGImages", out)
    assert rc == 0 and "1 images segmented, 3 already done" in stdout
    assert np.array_equal(read_label_png(out / "masks" / "train_00000.png"), sentinel)
    assert not (read_label_png(out / "masks" / "train_00001.png") == 17).all()
    assert (out / "overlays" / "train_00001.png").is_file()
    assert not list(out.rglob("*.tmp"))


def test_classifier_masks_equal_make_cams_then_make_cam_masks(voc, models, tmp_path, capsys):
    rc, stdout, _ = predict(capsys, models["classifier"], voc / "JPEGImages", tmp_path / "out",
                            "--cam-threshold", "0.75")  # the test head's CAMs are broad: above 0.5 everywhere
    assert rc == 0 and stdout.startswith("classifier")
    predicted = masks_of(tmp_path / "out" / "masks")
    # the pipeline's stages on the same images labelled with the two classes (the classifier predicts both)
    ids = sorted(predicted)
    rows = pd.DataFrame({"image_id": ids, **{name: [int(k + 1 in (CLASS_A, CLASS_B))] * len(ids)
                                             for k, name in enumerate(VOC_CLASSES)}})
    write_cam_cache(load_classifier(models["classifier"], "cpu"), voc, rows, tmp_path / "cams.h5", attrs={},
                    scales=[1.0, 0.5, 1.5, 2.0], flip=True, batch_size=1, device="cpu", progress=False)
    write_cam_masks(tmp_path / "cams.h5", voc, rows, tmp_path / "stage", threshold=0.75, crf=None, progress=False)
    stage = masks_of(tmp_path / "stage")
    assert sorted(stage) == ids == sorted(p.stem for p in (voc / "JPEGImages").glob("*.jpg"))
    values = set(np.unique(np.stack(list(predicted.values()))).tolist())
    assert values == {0, CLASS_A, CLASS_B}
    # the cache stores CAMs as float16: pixels within its rounding of a tie may differ
    agreement = np.mean([np.mean(predicted[i] == stage[i]) for i in ids])
    assert agreement > 0.99


def test_classifier_cam_threshold_moves_the_background(voc, models, tmp_path, capsys):
    foreground = {}
    for threshold in ("0.5", "0.9"):
        out = tmp_path / threshold
        assert predict(capsys, models["classifier"], voc / "JPEGImages", out, "--cam-threshold", threshold)[0] == 0
        foreground[threshold] = np.mean([(m > 0).mean() for m in masks_of(out / "masks").values()])
    assert foreground["0.5"] > foreground["0.9"] > 0


def test_a_single_label_classifier_keeps_only_its_top_class(voc, models, tmp_path, capsys):
    for model, out in (("single_label", "out"), ("classifier", "multi")):
        assert predict(capsys, models[model], voc / "JPEGImages", tmp_path / out, "--cam-threshold", "0.75")[0] == 0
    single, multi = masks_of(tmp_path / "out" / "masks"), masks_of(tmp_path / "multi" / "masks")
    assert all(len(set(np.unique(m).tolist()) - {0}) == 1 for m in single.values())
    assert any(set(np.unique(m).tolist()) == {0, CLASS_A, CLASS_B} for m in multi.values())


def test_a_classifier_that_predicts_no_class_gives_all_background(voc, tmp_path, capsys):
    torch.manual_seed(0)
    model = build_classifier("smallnet", output_stride=8, num_classes=20)
    with torch.no_grad():
        model.head.weight.fill_(-1.0)  # every logit negative on the ReLU features
    path = save_model(tmp_path / "none.pt", model, "classifier")
    assert predict(capsys, path, voc / "JPEGImages", tmp_path / "out", "--cam-threshold", "0.0")[0] == 0
    masks = masks_of(tmp_path / "out" / "masks")
    assert len(masks) == 4 and all((m == 0).all() for m in masks.values())


def test_present_classes_are_positive_logits_or_the_top_one():
    logits = np.array([-1.0, 2.0, 0.5, 0.0, -3.0])
    assert present_classes(logits, multilabel=True).tolist() == [2, 3]
    assert present_classes(logits, multilabel=False).tolist() == [2]
    assert present_classes(-np.ones(4), multilabel=True).tolist() == []


def _good_images(folder: Path, voc: Path) -> Path:
    folder.mkdir()
    for image_id in ("train_00000", "train_00001"):
        shutil.copy(voc / "JPEGImages" / f"{image_id}.jpg", folder / f"a_{image_id}.jpg")
    return folder


def _case(name: str, tmp: Path, voc: Path, models: dict):
    """(model, images, the path the error must name) of one kind of bad input."""
    images = _good_images(tmp / "images", voc)
    if name == "missing folder":
        return models["segmenter"], tmp / "nowhere", tmp / "nowhere"
    if name == "no images":
        empty = tmp / "empty"
        empty.mkdir()
        (empty / "readme.txt").write_text("no images here")
        return models["segmenter"], empty, empty
    if name == "corrupt image":
        (images / "z_bad.jpg").write_bytes(b"this is not a jpeg")
        return models["segmenter"], images, images / "z_bad.jpg"
    if name == "truncated image":
        data = (voc / "JPEGImages" / "val_00000.jpg").read_bytes()
        (images / "z_cut.jpg").write_bytes(data[: len(data) // 2])
        return models["segmenter"], images, images / "z_cut.jpg"
    if name == "two images, one stem":
        shutil.copy(voc / "JPEGImages" / "val_00000.jpg", images / "b.jpg")
        Image.open(images / "b.jpg").save(images / "b.png")
        return models["segmenter"], images, images / "b.png"
    if name == "missing model":
        return tmp / "none.pt", images, tmp / "none.pt"
    if name == "affinitynet checkpoint":
        return models["affinitynet"], images, models["affinitynet"]
    if name == "random .pt":
        torch.save({"weights": torch.zeros(3)}, tmp / "random.pt")
        return tmp / "random.pt", images, tmp / "random.pt"
    if name == "not a torch file":
        (tmp / "text.pt").write_text("hello")
        return tmp / "text.pt", images, tmp / "text.pt"
    raise ValueError(name)


@pytest.mark.parametrize("name", ["missing folder", "no images", "corrupt image", "truncated image",
                                  "two images, one stem", "missing model", "affinitynet checkpoint", "random .pt",
                                  "not a torch file"])
def test_bad_input_is_one_line_naming_the_file_and_exit_2_before_any_work(voc, models, tmp_path, capsys, name):
    model, images, named = _case(name, tmp_path, voc, models)
    rc, _, err = predict(capsys, model, images, tmp_path / "out")
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and str(named) in lines[0], err
    assert not list((tmp_path / "out").rglob("*.png"))  # nothing segmented, not even the good images


def test_the_module_runs_from_the_command_line(voc, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "wsss.predict", "--model", str(tmp_path / "none.pt"),
                           "--images", str(voc / "JPEGImages"), "--out", str(tmp_path / "out")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {tmp_path / 'none.pt'}: model file does not exist"]

"""wsolevaluation-layout data (CUB / OpenImages) through the pipeline: labels, single-label training,
CAM caches keyed by path-like ids, the localization metrics, and the whole localization target."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from wsss.data.labels import build_wsol_label_table, class_columns, label_matrix
from wsss.data.wsol_layout import WSOLLayout
from wsss.errors import DatasetError
from wsss.io.h5cache import CamCache, CamCacheWriter
from wsss.metrics.wsol import ClassPxAPAccumulator
from wsss.stages.evaluate_localization import wsol_truth
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

from workflow_helpers import planned_jobs, snakemake, write_config

COLOURS = [(220, 40, 40), (40, 200, 40), (40, 60, 230)]


def make_tiny_wsol(root: Path, *, name="CUB", n_train=12, n_test=6, size=64, masks=False) -> None:
    """A wsolevaluation layout of coloured squares on noise: class = colour, box (or mask) = the square."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        ids, labels, loc = [], [], []
        for i in range(n):
            c = i % len(COLOURS)
            image = rng.integers(90, 150, size=(size, size, 3)).astype(np.uint8)
            side = int(rng.integers(size // 4, size // 2))
            y0, x0 = (int(v) for v in rng.integers(0, size - side, size=2))
            image[y0:y0 + side, x0:x0 + side] = COLOURS[c]
            image_id = f"{split}/{c:03d}.class/{i:04d}.jpg"
            path = root / "dataset" / name / image_id
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(path, quality=95)
            ids.append(image_id)
            labels.append(f"{image_id},{c}")
            if masks:
                mask = np.zeros((size, size), np.uint8)
                mask[y0:y0 + side, x0:x0 + side] = 255
                mask_id = f"masks/{split}/{i:04d}.png"
                (root / "dataset" / name / mask_id).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(mask).save(root / "dataset" / name / mask_id)
                loc.append(f"{image_id},{mask_id}")
            else:
                loc.append(f"{image_id},{x0},{y0},{x0 + side - 1},{y0 + side - 1}")
        meta = root / "metadata" / name / split
        meta.mkdir(parents=True, exist_ok=True)
        (meta / "image_ids.txt").write_text("\n".join(ids) + "\n")
        (meta / "class_labels.txt").write_text("\n".join(labels) + "\n")
        (meta / "localization.txt").write_text("\n".join(loc) + "\n")


def test_label_table_is_one_hot_with_k_class_columns(tmp_path):
    make_tiny_wsol(tmp_path, n_train=6, n_test=3)
    table = build_wsol_label_table(tmp_path / "metadata", tmp_path / "dataset", "CUB",
                                   {"train": "train", "test": "test"}, 3, progress=False)
    assert class_columns(table.columns) == ["class_000", "class_001", "class_002"]
    assert len(table) == 9 and (table["label_source"] == "class_labels").all()
    labels = label_matrix(table)
    assert (labels.sum(axis=1) == 1).all()
    assert labels[table["image_id"] == "train/001.class/0001.jpg"].argmax() == 1
    assert (table["height"] == 64).all() and not table["has_mask"].any()


def test_class_index_beyond_num_classes_names_the_file(tmp_path):
    make_tiny_wsol(tmp_path, n_train=6, n_test=3)
    with pytest.raises(DatasetError, match=r"train/class_labels.txt: .* has class 2, but config dataset.wsol.num_classes is 2"):
        build_wsol_label_table(tmp_path / "metadata", tmp_path / "dataset", "CUB", {"train": "train"}, 2,
                               progress=False)


def test_cam_cache_keeps_path_like_ids(tmp_path):
    ids = ["test/001.Black_footed/a.jpg", "b%2F.jpg", "plain"]
    with CamCacheWriter(tmp_path / "c.h5", {"split": "test"}) as writer:
        for k, image_id in enumerate(ids):
            writer.add(image_id, [k + 1], (4, 5), high_res=np.full((1, 4, 5), k, np.float32))
    with CamCache(tmp_path / "c.h5") as cache:
        assert sorted(cache.ids()) == sorted(ids)
        for k, image_id in enumerate(ids):
            assert image_id in cache
            entry = cache.read(image_id)
            assert entry["keys"].tolist() == [k + 1] and entry["high_res"].max() == k
        assert "test" not in cache


def test_single_label_loss_is_softmax_cross_entropy():
    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1, bias=False)

        def features(self, x):
            return x

        def head(self, f):
            return self.conv(f)

    torch.manual_seed(0)
    model = Linear()
    images, targets = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1])
    labels = F.one_hot(targets, 4).float()
    loss, parts = classifier_loss([], multilabel=False)(model, (images, labels), Step(0, 1))
    expected = F.cross_entropy(model.head(images).mean(dim=(2, 3)), targets)
    assert torch.allclose(loss, expected)
    with_entropy, parts = classifier_loss(["entropy"], multilabel=False, entropy={"lambda": 1e-1})(
        model, (images, labels), Step(0, 1))
    log_p = F.log_softmax(model.head(images).mean(dim=(2, 3)), dim=1)
    kl = (-np.log(4) - log_p.mean(dim=1)).mean()  # KL(u || p) over the 4-way softmax
    assert torch.allclose(with_entropy, expected + 1e-1 * kl)
    assert parts["entropy"] == pytest.approx(kl.item(), rel=1e-5)


def test_openimages_truth_draws_class_and_ignore_and_a_perfect_map_scores_100(tmp_path):
    meta = tmp_path / "metadata" / "OpenImages" / "test"
    meta.mkdir(parents=True)
    data = tmp_path / "dataset" / "OpenImages"
    (data / "m").mkdir(parents=True)
    fg = np.zeros((6, 6), np.uint8)
    fg[1:4, 1:4] = 255
    ignore = np.zeros((6, 6), np.uint8)
    ignore[5, 5] = 255
    Image.fromarray(fg).save(data / "m" / "fg.png")
    Image.fromarray(ignore).save(data / "m" / "ig.png")
    (meta / "image_ids.txt").write_text("test/x.jpg\n")
    (meta / "class_labels.txt").write_text("test/x.jpg,4\n")
    (meta / "localization.txt").write_text("test/x.jpg,m/fg.png,m/ig.png\n")
    truth = wsol_truth(WSOLLayout(tmp_path / "metadata", tmp_path / "dataset", "OpenImages", "test"))
    boxes, mask = truth("test/x.jpg", [5], (6, 6))
    assert boxes is None
    assert (mask[1:4, 1:4] == 5).all() and mask[5, 5] == 255 and (mask == 5).sum() == 9 and (mask == 0).sum() == 26
    pxap = ClassPxAPAccumulator(thresholds=np.arange(0, 1, 0.1))
    pxap.add((mask == 5).astype(np.float32)[None], [5], mask)
    assert pxap.compute()["mpxap"] == pytest.approx(100.0)
    with pytest.raises(DatasetError, match=r"fg.png: mask is 6x6 but its image is 7x6"):
        truth("test/x.jpg", [5], (6, 7))
    # an ignore region over the foreground leaves the foreground (evaluation.py:329-330: ignore minus fg)
    ignore[1:3, 1:3] = 255
    Image.fromarray(ignore).save(data / "m" / "ig.png")
    _, mask = truth("test/x.jpg", [5], (6, 6))
    assert (mask == 5).sum() == 9 and (mask == 255).sum() == 1


def cache_of_squares(tmp_path, *, raw: str) -> Path:
    """make_tiny_wsol's test images, each with a perfect max-normalised map of its square; 'raw' is
    the same map shifted below zero ('shifted'), a constant ('constant'), or absent ('none')."""
    layout = WSOLLayout(tmp_path / "metadata", tmp_path / "dataset", "CUB", "test")
    boxes, labels = layout.boxes(), layout.class_labels()
    path = tmp_path / f"cams_{raw}.h5"
    with CamCacheWriter(path, {"split": "val"}) as writer:
        for image_id in layout.image_ids():
            (x0, y0, x1, y1), = boxes[image_id]
            high_res = np.zeros((1, 64, 64), np.float32)
            high_res[0, y0:y1 + 1, x0:x1 + 1] = 1.0
            maps = {"high_res": high_res}
            if raw != "none":
                maps["raw"] = high_res - 0.3 if raw == "shifted" else np.full_like(high_res, 2.0)
            writer.add(image_id, [labels[image_id] + 1], (64, 64), **maps)
    return path


@pytest.mark.parametrize("raw,protocol,box_acc", [("none", "ours", 100.0), ("shifted", "wsolevaluation", 100.0),
                                                  ("constant", "ours", 100.0), ("constant", "wsolevaluation", 0.0)])
def test_localization_protocol_scores_the_raw_maps_its_way(tmp_path, raw, protocol, box_acc):
    """wsolevaluation boxes the min-max normalised raw map at 224 x 224 (the ground truth scaled to it), ours
    the max-normalised map: a perfect square scores 100 either way, and a constant raw map, which min-max
    normalisation makes all zero (inference.py:48-49), only the box (0, 0, 0, 0) under wsolevaluation."""
    from script_runner import save_network
    from wsss.models.loading import load_classifier
    from wsss.stages.evaluate_localization import evaluate_localization

    make_tiny_wsol(tmp_path, n_train=3, n_test=3)
    model = load_classifier(save_network(tmp_path / "classifier.pt", "classifier"), "cpu")
    root = {"kind": "wsol", "data_root": str(tmp_path / "dataset"), "metadata_root": str(tmp_path / "metadata"),
            "name": "CUB"}
    ids = WSOLLayout(tmp_path / "metadata", tmp_path / "dataset", "CUB", "test").image_ids()
    summary, _ = evaluate_localization(model, cache_of_squares(tmp_path, raw=raw), root, ids, split="test",
                                       box_fraction=0.2, cam_thresholds=np.arange(0, 1, 0.05),
                                       iou_thresholds=[0.5, 0.7], device="cpu", protocol=protocol, progress=False)
    assert summary.at[0, "n_samples"] == 3 and summary.at[0, "gt_known_loc"] == 100.0
    assert summary.at[0, "max_box_acc_v2"] == box_acc


def test_wsolevaluation_protocol_without_raw_maps_names_the_cache(tmp_path):
    from script_runner import save_network
    from wsss.errors import CacheError
    from wsss.models.loading import load_classifier
    from wsss.stages.evaluate_localization import evaluate_localization

    make_tiny_wsol(tmp_path, n_train=3, n_test=3)
    model = load_classifier(save_network(tmp_path / "classifier.pt", "classifier"), "cpu")
    root = {"kind": "wsol", "data_root": str(tmp_path / "dataset"), "metadata_root": str(tmp_path / "metadata"),
            "name": "CUB"}
    cache = cache_of_squares(tmp_path, raw="none")
    with pytest.raises(CacheError, match=rf"^{cache}: localization.protocol wsolevaluation .* cams.keep_raw: true"):
        evaluate_localization(model, cache, root, ["test/000.class/0000.jpg"], split="test", box_fraction=0.2,
                              cam_thresholds=np.arange(0, 1, 0.1), iou_thresholds=[0.5], device="cpu",
                              protocol="wsolevaluation", progress=False)


@pytest.mark.workflow
def test_localization_target_runs_on_a_wsol_layout(tmp_path):
    make_tiny_wsol(tmp_path / "wsol")
    dataset = {"name": "tinycub", "kind": "wsol", "root": str(tmp_path / "wsol" / "dataset"),
               "wsol": {"metadata_root": str(tmp_path / "wsol" / "metadata"), "name": "CUB", "num_classes": 3},
               "splits": {"train": "train", "val": "test"}, "train_split": "train", "val_split": "val",
               "eval_splits": ["val"]}
    write_config(tmp_path, {"dataset": dataset, "localization": {"split": "val"}})
    jobs = planned_jobs(tmp_path)  # the default target of wsol data is the localization table
    assert jobs["localization_table"] == 1 and "make_affinity_labels" not in jobs and "train_segmenter" not in jobs
    snakemake(tmp_path)
    table = pd.read_csv(tmp_path / "results/tinycub/localization.tsv", sep="\t")
    assert table["experiment"].tolist() == ["cam", "cam+gradcam", "cam+entropy@lambda=0.001"]
    for column in ("top1_cls", "top1_loc", "gt_known_loc", "max_box_acc_v2"):
        assert ((table[column] >= 0) & (table[column] <= 100)).all(), column
    assert table["mpxap"].isna().all()  # CUB-style boxes only: no pixel ground truth
    summary = pd.read_csv(tmp_path / "results/tinycub/cam/seed0/eval/localization_val.tsv", sep="\t")
    assert summary.at[0, "n_images"] == 6 and summary.at[0, "n_samples"] == 6
    history = pd.read_csv(tmp_path / "results/tinycub/cam/seed0/classifier/history.tsv", sep="\t")
    assert np.isfinite(history["loss"]).all()
    # the refinement branch needs class masks: asking for it is a clear error, not a crash mid-run
    out = snakemake(tmp_path, "results/tinycub/cam/seed0/summary.tsv", "-n", check=False)
    assert out.returncode != 0 and "dataset.kind wsol has none" in out.stdout + out.stderr

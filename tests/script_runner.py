"""Run a rule's workflow script without Snakemake: a stand-in `snakemake` object, tiny data and networks.

The scripts only read snakemake.input/output/params/log/wildcards/threads/rule, so a stand-in object
lets a test run exactly the code a rule runs, in this process or in a child that SIGKILLs itself
(tests/kill_child.py), on a dataset of a few 32-px synthetic images.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

REPO = Path(__file__).resolve().parent.parent
KILL_CHILD = Path(__file__).resolve().parent / "kill_child.py"

CRF = {"n_iters": 2, "gauss_sxy": 3, "gauss_compat": 3, "bilateral_sxy": 10, "bilateral_srgb": 13,
       "bilateral_compat": 10}
#: The schema's default config evaluation section (what the evaluation rules pass as params.evaluation).
EVALUATION = {"absent_classes": "skip", "masks": "auto", "subsets": {}}


class Named(list):
    """snakemake.io.Namedlist's behaviour that scripts use: iteration over every file, and names."""

    def __init__(self, **named):
        items = []
        for value in named.values():
            items.extend(value if isinstance(value, (list, tuple)) else [value])
        super().__init__(str(item) for item in items)
        for name, value in named.items():
            setattr(self, name, [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value))


def fake_snakemake(*, input: dict, output: dict, params: dict, log, wildcards: dict | None = None,
                   threads: int = 1, rule: str = "rule") -> SimpleNamespace:
    """The object a script sees as `snakemake`; like Snakemake, it creates the outputs' and log's folders."""
    for path in (*Named(**output), log):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(input=Named(**input), output=Named(**output), params=SimpleNamespace(**{"shards": 1, **params}),
                           log=[str(log)], wildcards=SimpleNamespace(**(wildcards or {})), threads=threads, rule=rule)


def run_script(name: str, fields: dict) -> None:
    """Run workflow_scripts/<name>.py here, with fake_snakemake(**fields) as its `snakemake`."""
    runpy.run_path(str(REPO / "workflow_scripts" / f"{name}.py"), init_globals={"snakemake": fake_snakemake(**fields)},
                   run_name="__main__")


def run_killed(tmp_path: Path, name: str, fields: dict, *, kill: str, after: int, factory: bool = False,
               fit: dict | None = None) -> subprocess.CompletedProcess:
    """Run the script in a child that SIGKILLs itself at call after+1 of `kill` ('module:function'; with
    factory, of the function that `kill` returns). fit: keyword arguments fixed for training.loop.fit."""
    spec = tmp_path / f"kill_{name}.json"
    spec.write_text(json.dumps({"script": name, "fields": fields, "kill": kill, "after": after, "factory": factory,
                                "fit": fit or {}}, default=str))
    return subprocess.run([sys.executable, str(KILL_CHILD), str(spec)], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def tiny_dataset(root: Path, *, n_train: int = 6, n_val: int = 2) -> tuple[Path, Path]:
    """A synthetic VOC-layout dataset of 32-px images under root/data and its label table root/labels.tsv."""
    from wsss.data.labels import build_label_table
    from wsss.data.synthetic import generate_synthetic_voc

    data = root / "data"
    generate_synthetic_voc(data, seed=1, n_train=n_train, n_val=n_val, image_size=32, progress=False)
    labels = root / "labels.tsv"
    build_label_table(data, {"train": "ImageSets/Segmentation/train.txt", "val": "ImageSets/Segmentation/val.txt"},
                      progress=False).to_csv(labels, sep="\t", index=False)
    return data, labels


def save_network(path: Path, kind: str, seed: int = 0) -> Path:
    """A seeded untrained smallnet network saved as the training rules save it ({'arch', 'state_dict'})."""
    from wsss.models.affinitynet import build_affinitynet
    from wsss.models.classifier import build_classifier
    from wsss.models.deeplab import build_segmenter

    build = {"classifier": build_classifier, "affinitynet": build_affinitynet, "segmenter": build_segmenter}[kind]
    torch.manual_seed(seed)
    model = build("smallnet", pretrained=False, output_stride=8)
    arch = {"backbone": "smallnet", "output_stride": 8, **({"num_classes": 20} if kind == "classifier" else {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": arch, "state_dict": model.state_dict()}, path)
    return path


def make_cams_fields(data: Path, labels: Path, model: Path, out: Path, *, split: str = "train",
                     device: str = "cpu") -> dict:
    return {"input": {"model": model, "labels": labels},
            "output": {"cams": out / "cams" / f"{split}.h5"},
            "params": {"root": str(data), "cams": {"scales": [1.0, 0.5], "flip": True, "attention": "cam",
                                                   "resize": "bilinear", "keep_raw": False, "batch_size": 1,
                                                   "num_workers": 0, "threads": 1},
                       "device": device, "allow_cpu_fallback": True},
            "log": out / f"make_cams_{split}.log", "wildcards": {"split": split}, "rule": "make_cams"}


def affinity_labels_fields(data: Path, labels: Path, classifier: Path, cams: Path, out: Path, *,
                           split: str = "train", alpha_low: float = 4) -> dict:
    return {"input": {"cams": cams, "classifier": classifier, "labels": labels},
            "output": {"labels": out / "affinity_labels" / split},
            "params": {"root": str(data), "crf": CRF,
                       "affinity_labels": {"method": "psa", "alpha_low": alpha_low, "alpha_high": 32,
                                           "fg_threshold": 0.3, "bg_threshold": 0.05, "crf_scores": "normalised",
                                           "irn_crf": {**CRF, "gt_prob": 0.7}, "threads": 1}},
            "log": out / f"make_affinity_labels_{split}.log", "wildcards": {"split": split},
            "rule": "make_affinity_labels"}


def random_walk_fields(data: Path, labels: Path, classifier: Path, affinitynet: Path, cams: Path, out: Path, *,
                       split: str = "train", crf: bool = False) -> dict:
    return {"input": {"model": affinitynet, "cams": cams, "classifier": classifier, "labels": labels},
            "output": {"masks": out / "pseudo_masks" / split, "scores": out / "random_walk" / f"{split}.h5"},
            "params": {"root": str(data), "random_walk": {"alpha_bg": 16, "beta": 8, "logt": 3, "crf": crf,
                                                          "threads": 1},
                       "radius": 3, "pair_set": "all_in_image", "crf": CRF, "device": "cpu",
                       "allow_cpu_fallback": True},
            "log": out / f"random_walk_{split}.log", "wildcards": {"split": split}, "rule": "random_walk"}


def train_classifier_fields(data: Path, labels: Path, out: Path, *, epochs: int = 2) -> dict:
    classifier = {"backbone": "smallnet", "pretrained": False, "output_stride": 8, "epochs": epochs, "batch_size": 2,
                  "optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4, "crop_size": 32, "scale_range": [0.7, 1.3],
                  "num_workers": 0, "channels_last": True, "precision": "fp32", "cache_images": False, "threads": 1, "methods": [],
                  "momentum": 0.9, "nesterov": False, "poly_power": 0.9, "lr_step_every": 0, "head_lr_scale": 10,
                  "head_stages": 0, "bias_lr_scale": 1, "bias_weight_decay": True, "batchnorm": "train",
                  "frozen_stages": 0, "accumulate": 1, "processes": 1, "cudnn_benchmark": False}
    return {"input": {"labels": labels},
            "output": {"model": out / "classifier" / "model.pt", "history": out / "classifier" / "history.tsv"},
            "params": {"root": str(data), "split": "train", "classifier": classifier, "seed": 0, "device": "cpu",
                       "allow_cpu_fallback": True, "multilabel": True,
                       "state": str(out / ".state" / "train_classifier.pt")},
            "log": out / "train_classifier.log", "rule": "train_classifier"}

"""Same config and seed, same results on the CPU: the CAM cache and the masks of two independent runs are
bitwise equal (networks built twice from the seed, every stage run twice into separate folders).

Bitwise holds on the CPU with a fixed thread count, which every rule sets (threads: in the config);
CUDA kernels (cuDNN convolutions, atomics in interpolation's backward) are not guaranteed
deterministic, so on a GPU the promise is numerical closeness, not equal bytes.
"""

import h5py
import numpy as np
import pytest
import torch

from script_runner import CRF, tiny_dataset
from workflow_helpers import snakemake, write_config
from wsss.data.labels import load_split
from wsss.models.classifier import build_classifier
from wsss.models.deeplab import build_segmenter
from wsss.stages.make_affinity_labels import write_affinity_labels
from wsss.stages.make_cams import write_cam_cache
from wsss.stages.segment_images import write_segmentation


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("repro")
    data, labels = tiny_dataset(root, n_train=4, n_val=2)
    return data, load_split(labels, "train")


def seeded(build, seed=0):
    torch.manual_seed(seed)
    return build("smallnet", pretrained=False, output_stride=8).eval()


def run_cams_and_masks(data, rows, out):
    torch.set_num_threads(1)
    write_cam_cache(seeded(build_classifier), data, rows, out / "cams.h5", attrs={"split": "train"},
                    scales=[1.0, 0.5], flip=True, batch_size=2, device="cpu", progress=False)
    write_affinity_labels(out / "cams.h5", data, rows, out / "affinity_labels", method="psa",
                          params={"alpha_low": 4, "alpha_high": 32, "crf_scores": "normalised"}, crf=CRF, progress=False)
    write_segmentation(seeded(build_segmenter), data, rows, out / "segmentation", scales=[1.0, 0.5], flip=True,
                       crf=None, device="cpu", progress=False)


def contents(path) -> dict:
    with h5py.File(path, "r") as handle:
        return {f"{name}/{key}": dataset[()] for name, group in handle.items() for key, dataset in group.items()}


def test_same_seed_gives_the_same_cam_cache_and_masks_bitwise(tiny, tmp_path):
    data, rows = tiny
    run_cams_and_masks(data, rows, tmp_path / "a")
    run_cams_and_masks(data, rows, tmp_path / "b")
    a, b = contents(tmp_path / "a" / "cams.h5"), contents(tmp_path / "b" / "cams.h5")
    assert sorted(a) == sorted(b) and len(a) == 2 * len(rows)
    for key in a:
        assert a[key].dtype == np.float16 and np.array_equal(a[key], b[key]), key
    assert any(a[key].any() for key in a)  # not trivially equal
    for folder in ("affinity_labels", "segmentation"):
        pngs = sorted((tmp_path / "a" / folder).glob("*.png"))
        assert len(pngs) == len(rows)
        for png in pngs:
            assert png.read_bytes() == (tmp_path / "b" / folder / png.name).read_bytes(), png


@pytest.mark.workflow
def test_two_runs_of_the_tiny_config_give_identical_segmenters_masks_and_summaries(tmp_path):
    # two independent processes trees (own hash seeds, own allocations), 2 torch threads in the trainings
    overrides = {"classifier": {"threads": 2}, "segmentation": {"threads": 2}}
    runs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        write_config(folder, overrides)
        snakemake(folder)
        runs.append(folder / "results" / "synthetic")
    a, b = runs
    pngs = sorted(p.relative_to(a) for p in a.glob("cam/seed0/**/*.png") if "figures" not in p.parts)
    assert any(p.parts[2] == "segmentation" for p in pngs) and any(p.parts[2] == "pseudo_masks" for p in pngs)
    for png in pngs:
        assert (a / png).read_bytes() == (b / png).read_bytes(), png
    for table in ("cam/seed0/summary.tsv", "experiments.md"):
        assert (a / table).read_text() == (b / table).read_text(), table
    for supervision in ("pseudo", "gt"):
        weights = [torch.load(run / f"cam/seed0/segmenter/{supervision}/model.pt", weights_only=False)["state_dict"]
                   for run in runs]
        assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0]), supervision

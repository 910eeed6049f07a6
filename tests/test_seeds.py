"""Several seeds on the tiny config: every network once per seed, the data and the label table once, the
experiments table as mean ± std over the seeds with paired differences, and a new seed that reruns only
its own jobs."""

import math

import pandas as pd
import pytest
import torch

from workflow_helpers import planned_jobs, planned_wildcards, snakemake, write_config

pytestmark = pytest.mark.workflow

#: cam, and cam+rw_crf, which differs only in the random walk's dCRF (it shares cam's classifier,
#: CAMs and AffinityNet at each seed, so its differences from cam come from the walk on).
TWO_SEEDS = {"seeds": [0, 1], "run_experiments": ["cam", "cam+rw_crf"]}
#: The jobs that no seed changes, and the tables that every seed feeds.
ONCE = {"make_synthetic_dataset", "make_labels"}
TABLES = {"compare_experiments", "all"}


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds")
    write_config(folder, TWO_SEEDS)
    planned = planned_jobs(folder)
    snakemake(folder)
    return folder, planned


def value(folder, experiment, seed, stage, split, metric):
    """One number of an experiment's per-seed summary (as the summary TSV holds it)."""
    summary = pd.read_csv(folder / f"results/synthetic/{experiment}/seed{seed}/summary.tsv", sep="\t")
    hit = summary[(summary["stage"] == stage) & (summary["split"] == split) & (summary["metric"] == metric)]
    assert len(hit) == 1, (experiment, seed, stage, split, metric)
    return float(hit["value"].iloc[0])


def test_each_seed_trains_its_own_networks_from_one_label_table(two_seeds):
    folder, planned = two_seeds
    assert planned["make_synthetic_dataset"] == 1 and planned["make_labels"] == 1
    # one classifier and one AffinityNet per seed (cam+rw_crf reuses cam's at the same seed);
    # per seed three segmenters: cam's on pseudo masks, cam+rw_crf's, and the upper bound they share
    assert planned["train_classifier"] == 2 and planned["train_affinitynet"] == 2
    assert planned["train_segmenter"] == 6 and planned["summarise_experiment"] == 4
    results = folder / "results/synthetic"
    assert sorted(p.relative_to(results).as_posix() for p in results.glob("**/labels.tsv")) == ["labels.tsv"]
    classifiers = sorted(p.relative_to(results).as_posix() for p in results.glob("**/classifier/model.pt"))
    assert classifiers == ["cam/seed0/classifier/model.pt", "cam/seed1/classifier/model.pt"]
    weights = [torch.load(results / path, map_location="cpu", weights_only=False)["state_dict"] for path in classifiers]
    assert weights[0].keys() == weights[1].keys()
    assert any(not torch.equal(weights[0][name], weights[1][name]) for name in weights[0])  # other seed, other net
    assert planned_jobs(folder) == {}  # a finished run has nothing left to do


#: (column of the experiments table, stage, split, metric of the summaries) checked by hand.
CHECKED = [("cam_val", "cam", "val", "miou_best"), ("pseudo_masks", "pseudo_masks", "train", "miou"),
           ("segmentation_val", "segmentation", "val", "miou")]


@pytest.mark.parametrize("column, stage, split, metric", CHECKED)
def test_table_cells_are_the_mean_and_std_of_the_per_seed_summaries(two_seeds, column, stage, split, metric):
    folder, _ = two_seeds
    cam = [value(folder, "cam", seed, stage, split, metric) for seed in (0, 1)]
    crf = [value(folder, "cam+rw_crf", seed, stage, split, metric) for seed in (0, 1)]
    diff = [crf[0] - cam[0], crf[1] - cam[1]]  # paired: the same seed's numbers

    def mean_std(pair):  # the sample std of two numbers: sqrt(((a - m)^2 + (b - m)^2) / (2 - 1))
        mean = (pair[0] + pair[1]) / 2
        return mean, math.sqrt((pair[0] - mean) ** 2 + (pair[1] - mean) ** 2)

    table = pd.read_csv(folder / "results/synthetic/experiments.tsv", sep="\t").set_index("experiment")
    assert table["seeds"].tolist() == [2, 2]
    half_cent = 0.005 + 1e-9  # the table's TSV keeps 2 decimals
    for name, pair in (("cam", cam), ("cam+rw_crf", crf)):
        mean, std = mean_std(pair)
        assert table.at[name, f"{column}_mean"] == pytest.approx(mean, abs=half_cent)
        assert table.at[name, f"{column}_std"] == pytest.approx(std, abs=half_cent)
    mean, std = mean_std(diff)
    assert table.at["cam+rw_crf", f"{column}_diff"] == pytest.approx(mean, abs=half_cent)
    assert table.at["cam+rw_crf", f"{column}_diff_std"] == pytest.approx(std, abs=half_cent)
    assert table.at["cam+rw_crf", f"{column}_diff_real"] == (abs(mean) > 2 * std / math.sqrt(2))
    assert math.isnan(table.at["cam", f"{column}_diff"]) and not table.at["cam", f"{column}_diff_real"]
    # the Markdown version shows "mean ± std" with one decimal, the difference signed
    markdown = (folder / "results/synthetic/experiments.md").read_text().splitlines()
    header = [cell.strip() for cell in markdown[0].strip("|").split("|")]
    row = [cell.strip() for cell in next(line for line in markdown if line.startswith("| cam+rw_crf |"))
           .strip("|").split("|")]
    crf_mean, crf_std = mean_std(crf)
    assert row[header.index(column)] == f"{crf_mean:.1f} ± {crf_std:.1f}"
    assert row[header.index(f"Δ {column}")].removesuffix(" †") == f"{mean:+.1f} ± {std:.1f}"


def test_a_third_seed_reruns_only_its_own_jobs(two_seeds):
    folder, planned = two_seeds
    write_config(folder, {**TWO_SEEDS, "seeds": [0, 1, 2]})
    jobs, wildcards = planned_jobs(folder), planned_wildcards(folder)
    write_config(folder, TWO_SEEDS)
    # every per-seed job once more (half the two-seed plan), nothing built once, and the tables
    one_seed = {rule: count // 2 for rule, count in planned.items() if rule not in ONCE | TABLES}
    assert jobs == {**one_seed, **{rule: 1 for rule in TABLES}}
    seeded = [job for job in wildcards if "seed" in job]
    assert len(seeded) == sum(one_seed.values()) and {job["seed"] for job in seeded} == {"2"}
    assert planned_jobs(folder) == {}  # back to two seeds: nothing stale

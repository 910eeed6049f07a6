"""Config mistakes stop the DAG with one line per problem that names the config key."""

import pytest

from wsss.config import config_errors, load_schema

from workflow_helpers import REPO, snakemake, write_config

SCHEMA = load_schema(REPO / "config.schema.yaml")


@pytest.mark.parametrize("config, line", [
    ({"classifierr": {}}, "config key (top level): unknown key(s) ('classifierr' was unexpected)"),
    ({"classifier": {"lrr": 0.1}}, "config key classifier: unknown key(s) ('lrr' was unexpected)"),
    ({"classifier": {"epochs": "ten"}}, "config key classifier.epochs: 'ten' is not of type 'integer'"),
    ({"evaluate_cams": {"fixed_threshold": -0.1}}, "config key evaluate_cams.fixed_threshold: -0.1 is less than the minimum of 0"),
    ({"evaluate_cams": {"thresholds": [0.1, -0.2]}}, "config key evaluate_cams.thresholds.1: -0.2 is less than the minimum of 0"),
    ({"segmentation": {"backbone": "resnet18"}},
     "config key segmentation.backbone: 'resnet18' is not one of ['smallnet', 'resnet50', 'resnet101', 'mobilenet_v2']"),
    ({"device": "gpu"}, "config key device: 'gpu' does not match"),
    ({"seed": 3}, "config key (top level): unknown key(s) ('seed' was unexpected); seed is now seeds, a list"),
    ({"seeds": [0, 0]}, "config key seeds: [0, 0] has non-unique elements"),
    ({"tables": {"baseline": 3}}, "config key tables.baseline: 3 is not of type 'string', 'null'"),
])
def test_each_mistake_is_one_line_naming_the_key(config, line):
    errors = config_errors(config, SCHEMA)
    assert len(errors) == 1
    assert errors[0].startswith(line)
    assert "\n" not in errors[0]


def test_a_valid_config_has_no_errors():
    assert config_errors({"classifier": {"epochs": 3}, "dataset": {"kind": "voc", "root": "/x"}}, SCHEMA) == []


def test_every_mistake_is_reported_with_a_prefix():
    errors = config_errors({"classifier": {"epochs": 0, "lr": -1}}, SCHEMA, prefix="experiments.x: ")
    assert errors == ["experiments.x: config key classifier.epochs: 0 is less than the minimum of 1",
                      "experiments.x: config key classifier.lr: -1 is less than or equal to the minimum of 0"]


@pytest.mark.parametrize("overrides, line", [
    ({"classifier": {"epochs": 0}}, "config key classifier.epochs: 0 is less than the minimum of 1"),
    ({"dataset": {"eval_splits": ["train", "test"]}},
     "config key dataset.eval_splits: split 'test' is not one of dataset.splits ['train', 'val']"),
    ({"tables": {"baseline": "camm"}}, "config key tables.baseline: 'camm' is not one of the experiments"),
])
def test_the_dag_stops_before_any_job_with_that_line(tmp_path, overrides, line):
    write_config(tmp_path, overrides)
    out = snakemake(tmp_path, "-n", check=False)
    assert out.returncode != 0
    assert line in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()

"""The paper configs train with the official recipes of docs/paper-recipes.md, and our optimiser is theirs.

1. Every row of docs/paper-recipes.md names a config key and the value that the paper's config resolves
   to, resolved as the workflow does: config.yaml, then each --configfile merged by Snakemake's
   update_config, then the schema's defaults (snakemake.utils.validate, as the Snakefile calls it), then
   the experiment's overrides (rules/common.smk's experiment_configs, run from that file's own text).
2. Golden tests: the official PolyOptimizer classes (PSA, IRN, Puzzle-CAM) and EADER's optimiser, run on
   a tiny fixed model, against our Schedule / make_optimizer / poly_lr / lr_groups with the paper's keys.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from wsss.config import config_errors, load_schema
from wsss.training.loop import Schedule, make_optimizer, poly_lr
from wsss.training.param_groups import GroupRule, lr_groups

from workflow_helpers import REPO

DOC = REPO / "docs" / "paper-recipes.md"
SCHEMA_PATH = REPO / "config.schema.yaml"
#: paper -> (config files after config.yaml, the experiment whose networks the recipe describes)
PAPERS = {
    "psa": (["voc12_psa.yaml"], "cam"),
    "irn": (["voc12_psa.yaml", "voc12_irn_thresholds.yaml"], "cam"),
    "puzzlecam": (["voc12_psa.yaml", "voc12_puzzlecam.yaml"], "puzzle"),
    "eader": (["voc12_psa.yaml", "voc12_eader.yaml"], "eader"),
    "wsolevaluation": (["cub_entropy.yaml"], "cam"),
    "recam": (["coco14_psa.yaml", "coco14_cam.yaml"], "cam"),
}
#: the networks each paper's official code trains, whose recipe rows must all be in the document
TRAINED = {"psa": ["classifier", "affinitynet"], "irn": ["classifier", "affinitynet"],
           "puzzlecam": ["classifier", "affinitynet", "segmentation"], "eader": ["classifier"],
           "wsolevaluation": ["classifier"], "recam": ["classifier", "affinitynet"]}
RECIPE_KEYS = ("optimizer", "momentum", "nesterov", "weight_decay", "bias_weight_decay", "lr", "head_lr_scale",
               "bias_lr_scale", "poly_power", "lr_step_every", "epochs", "batch_size", "crop_size", "scale_range",
               "batchnorm", "frozen_stages")
HEADER = ["hyper-parameter", "official value", "official source (file:line @ commit)", "our key", "our value"]


def common_smk_function(name: str) -> str:
    """The source of a top-level Python function of rules/common.smk (a Snakemake file, not importable)."""
    text = (REPO / "rules" / "common.smk").read_text()
    match = re.search(rf"^def {name}\(.*?(?=^\S)", text, flags=re.M | re.S)
    assert match, f"rules/common.smk has no function {name}"
    return match.group(0)


def resolve(config_files: list[str], experiment: str) -> dict:
    """The merged config of one experiment, as the Snakefile and rules/common.smk build it."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())  # Snakefile: configfile: config.yaml
    for name in config_files:  # --configfile ... (snakemake's Workflow.configfile merges with update_config)
        update_config(config, yaml.safe_load((REPO / "configs" / name).read_text()))
    validate(config, str(SCHEMA_PATH))  # Snakefile: validate(config, "config.schema.yaml") fills the defaults
    namespace = {"config": config, "SCHEMA": load_schema(SCHEMA_PATH), "config_errors": config_errors,
                 "WorkflowError": WorkflowError, "copy": copy}
    for function in ("deep_merge", "experiment_configs"):
        exec(common_smk_function(function), namespace)
    return namespace["experiment_configs"]()[experiment]


def lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def paper_rows() -> dict[str, list[dict]]:
    """paper -> the rows of every recipe table in its '## <paper>' section of the document."""
    sections, paper = {}, None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^## (\w+)\s*$", line)
        if heading:
            paper = heading.group(1)
            sections[paper] = []
        elif line.startswith("## "):
            paper = None
        elif line.startswith("### ") and paper and not line.startswith(f"### {paper}"):
            paper = None
        elif paper and line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells == HEADER or set("".join(cells)) <= set("-: "):
                continue
            assert len(cells) == 5, f"{paper}: a recipe row needs 5 cells: {line}"
            sections[paper].append(dict(zip(("name", "official", "source", "key", "value"), cells)))
    return sections


ROWS = paper_rows()


def test_the_document_has_a_recipe_section_per_paper_that_names_its_config():
    assert set(PAPERS) <= set(ROWS), f"docs/paper-recipes.md lacks sections for {sorted(set(PAPERS) - set(ROWS))}"
    text = DOC.read_text()
    for paper, (files, experiment) in PAPERS.items():
        section = text.split(f"## {paper}\n", 1)[1]
        config_line = section.splitlines()[1] + section.splitlines()[2]
        assert all(f"`configs/{name}`" in config_line for name in files), f"{paper}: Config: line names {files}"
        assert f"experiment `{experiment}`" in config_line, f"{paper}: Config: line names experiment {experiment}"


@pytest.mark.parametrize("paper", sorted(TRAINED))
def test_every_trained_network_has_a_row_for_every_recipe_key(paper):
    keys = {row["key"] for row in ROWS[paper]}
    missing = [f"{network}.{key}" for network in TRAINED[paper] for key in RECIPE_KEYS
               if f"{network}.{key}" not in keys]
    assert not missing, f"{paper}: docs/paper-recipes.md has no row for {missing}"


@pytest.mark.parametrize("paper", sorted(PAPERS))
def test_each_paper_config_resolves_to_the_documented_values(paper):
    config = resolve(*PAPERS[paper])
    mismatches = []
    for row in ROWS[paper]:
        key = row["key"].strip("`")
        if key == "—":  # not configurable: the row says why
            assert row["official"] and row["value"], f"{paper}: row {row['name']!r} with key — must say why"
            continue
        expected = yaml.safe_load(row["value"].strip("`"))
        try:
            got = lookup(config, key)
        except KeyError:
            mismatches.append(f"{paper}: {key} ({row['name']}) is not a key of the resolved config")
            continue
        if got != expected or isinstance(got, bool) != isinstance(expected, bool):
            mismatches.append(f"{paper}: {key} ({row['name']}): expected {expected!r}, got {got!r}")
    assert not mismatches, "\n".join(mismatches)


# --- golden: the official optimisers against ours ---------------------------------------------------------
#
# How the expected values were made: each official optimiser was extracted (its class or function only, by
# ast, into a scratch file under /tmp, not in this repository) from
#   PSA        jiwoon-ahn/psa @ 9493e59bef16687ecb4821387e38e6460857f508, tool/torchutils.py:10-32
#   IRN        jiwoon-ahn/irn @ a2ece0034d0a5a9635e4e131cd4fa6e2a779d316, misc/torchutils.py:9-31
#   Puzzle-CAM shjo-april/PuzzleCAM @ 659b4c1b464a86faf363314acd71a5ce9480ff9b, tools/ai/optim_utils.py:4-23
#   EADER      ErikStammes/EADER @ 9d81e40a76e576ce33c0df29df6c06843b70d5d3, training_utils.py:49-56
# and run with torch 2.14.1 on tiny() below: 5 steps of MSE on the fixed input, zero_grad / backward /
# step, max_step 5, with the parameter groups of PSA train_cls.py:91-96 (lr 0.1, wt_dec 5e-4: weights 1x and
# 10x with weight decay, biases 2x and 20x without), IRN step/train_cam.py:57-60 (lr 0.1, wd 1e-4: 1x and
# 10x, all decayed), Puzzle-CAM train_classification_with_puzzle.py:218-223 (lr 0.1, wd 1e-4, nesterov,
# PSA's four groups) and EADER train.py:81 with load_optimizer('sgd', params, 0.01). The printed float32
# weights (repr of each element) are pasted below.

GOLDEN = {
    "psa": {
        "backbone.weight": [-0.5071514844894409, -0.4058942198753357, -0.30463701486587524, -0.2246311455965042,
                            -0.12200294435024261, -0.01937473937869072, 0.060275688767433167, 0.15936240553855896,
                            0.25844913721084595, 0.34160271286964417, 0.44451668858528137, 0.547430694103241],
        "backbone.bias": [0.11782170832157135, -0.16298310458660126, 0.2874334156513214, -0.3589820861816406],
        "head.weight": [0.15753096342086792, -0.08768625557422638, -0.399522989988327, -0.6114305257797241,
                        -0.33429452776908875, -0.0258108451962471, 0.5270949006080627, 0.7133674621582031],
        "head.bias": [-0.10428427904844284, 0.6026583909988403],
    },
    "irn": {
        "backbone.weight": [-0.5061810612678528, -0.4064355492591858, -0.3066900968551636, -0.22383558750152588,
                            -0.12206538766622543, -0.02029517851769924, 0.05742465332150459, 0.16061335802078247,
                            0.26380205154418945, 0.3403126299381256, 0.44582921266555786, 0.5513458251953125],
        "backbone.bias": [0.09823686629533768, -0.18758046627044678, 0.3223334550857544, -0.36134952306747437],
        "head.weight": [0.15850846469402313, -0.07578505575656891, -0.41430607438087463, -0.59648597240448,
                        -0.3253566026687622, -0.06879833340644836, 0.646285891532898, 0.6735811233520508],
        "head.bias": [-0.08149975538253784, 0.5237391591072083],
    },
    "puzzlecam": {
        "backbone.weight": [-0.5072172284126282, -0.4059482514858246, -0.304679274559021, -0.22466860711574554,
                            -0.12202747911214828, -0.01938634179532528, 0.06026357784867287, 0.15936103463172913,
                            0.2584584653377533, 0.3416203260421753, 0.4445478916168213, 0.5474753975868225],
        "backbone.bias": [0.11780955642461777, -0.16297970712184906, 0.28740808367729187, -0.35896971821784973],
        "head.weight": [0.15730275213718414, -0.08794920891523361, -0.39988234639167786, -0.6117938160896301,
                        -0.33414003252983093, -0.025636089965701103, 0.5274990200996399, 0.713687539100647],
        "head.bias": [-0.10432147979736328, 0.6025617122650146],
    },
    "eader": {
        "backbone.weight": [-0.51469486951828, -0.4139956533908844, -0.31329652667045593, -0.21877577900886536,
                            -0.11661907285451889, -0.014462387189269066, 0.07757764309644699, 0.18132242560386658,
                            0.28506720066070557, 0.3732796311378479, 0.4784165620803833, 0.5835536122322083],
        "backbone.bias": [0.10490213334560394, -0.18489137291908264, 0.326218843460083, -0.3640265166759491],
        "head.weight": [-0.33164769411087036, -0.2777661979198456, -0.22518190741539001, -0.17065180838108063,
                        0.007170477882027626, 0.15252411365509033, 0.36241844296455383, 0.47550174593925476],
        "head.bias": [0.04838820919394493, 0.03066442534327507],
    },
}

#: our settings for each official recipe: (lr, weight_decay, momentum, nesterov, poly_power, GroupRule) — the
#: values the paper configs set (classifier.lr, .weight_decay, .momentum, .nesterov, .poly_power, .head_lr_scale,
#: .bias_lr_scale, .bias_weight_decay)
OURS = {
    "psa": (0.1, 5e-4, 5e-4, False, 0.9, GroupRule(head_lr_scale=10, bias_lr_scale=2, bias_weight_decay=False)),
    "irn": (0.1, 1e-4, 1e-4, False, 0.9, GroupRule(head_lr_scale=10)),
    "puzzlecam": (0.1, 1e-4, 1e-4, True, 0.9, GroupRule(head_lr_scale=10, bias_lr_scale=2, bias_weight_decay=False)),
    "eader": (0.01, 1e-4, 0.9, False, 0.0, GroupRule(head_lr_scale=1)),
}
STEPS = 5
# Both sides run torch.optim.SGD's update with equal hyper-parameters and equal group lrs, i.e. the same
# float32 arithmetic; another torch build may reorder it: per step ~8 roundings (2^-24 relative) of O(1)
# values per weight, over 5 steps ~2.4e-6. The recipe differences the test must see are larger: momentum
# 5e-4 instead of 0 moves the PSA weights by 7.5e-5, nesterov the Puzzle-CAM ones by 2.1e-5.
ATOL = 3e-6


def tiny():
    """A fixed 3 -> 4 -> 2 linear 'backbone' and 'head', input (5, 3) and target (5, 2)."""
    backbone, head = torch.nn.Linear(3, 4), torch.nn.Linear(4, 2)
    with torch.no_grad():
        backbone.weight.copy_((torch.arange(12.0).reshape(4, 3) - 5.5) / 10)
        backbone.bias.copy_(torch.tensor([0.1, -0.2, 0.3, -0.4]))
        head.weight.copy_((torch.arange(8.0).reshape(2, 4) - 3.5) / 8)
        head.bias.copy_(torch.tensor([0.05, -0.05]))
    x = torch.linspace(-1.0, 1.0, 15).reshape(5, 3)
    y = torch.tensor([[1.0, -1.0], [0.5, 0.0], [0.0, 0.5], [-0.5, 1.0], [-1.0, 2.0]])
    return backbone, head, x, y


def train_ours(lr, weight_decay, momentum, nesterov, poly_power, rule) -> dict[str, torch.Tensor]:
    backbone, head, x, y = tiny()
    schedule = Schedule(epochs=1, batch_size=1, lr=lr, weight_decay=weight_decay, optimizer="sgd",
                        momentum=momentum, nesterov=nesterov, poly_power=poly_power)
    optimizer = make_optimizer(lr_groups([backbone], [head], lr, rule), schedule)
    for iteration in range(STEPS):  # as fit: the lr set before the step, total = STEPS
        poly_lr(optimizer, iteration, STEPS, schedule.poly_power)
        loss = torch.nn.functional.mse_loss(head(backbone(x)), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return {"backbone.weight": backbone.weight, "backbone.bias": backbone.bias, "head.weight": head.weight,
            "head.bias": head.bias}


def close(weights, expected) -> bool:
    return all(torch.allclose(weights[k].detach().flatten(), torch.tensor(v), rtol=0, atol=ATOL)
               for k, v in expected.items())


@pytest.mark.parametrize("paper", sorted(GOLDEN))
def test_our_optimiser_with_the_official_settings_gives_the_official_weights(paper):
    weights = train_ours(*OURS[paper])
    for name, expected in GOLDEN[paper].items():
        torch.testing.assert_close(weights[name].detach().flatten(), torch.tensor(expected), rtol=0, atol=ATOL,
                                   msg=lambda m, name=name: f"{paper} {name}: {m}")


def test_the_golden_weights_tell_the_official_momentum_and_nesterov_from_ours_before():
    lr, wd, _, nesterov, power, rule = OURS["psa"]
    assert not close(train_ours(lr, wd, 0.9, nesterov, power, rule), GOLDEN["psa"])  # the old momentum 0.9
    assert not close(train_ours(lr, wd, 0.0, nesterov, power, rule), GOLDEN["psa"])  # no momentum at all
    assert not close(train_ours(lr, wd, wd, nesterov, power, GroupRule()), GOLDEN["psa"])  # 1x / 10x, all decayed
    lr, wd, momentum, _, power, rule = OURS["puzzlecam"]
    assert not close(train_ours(lr, wd, momentum, False, power, rule), GOLDEN["puzzlecam"])  # without nesterov
    lr, wd, momentum, nesterov, _, rule = OURS["eader"]
    assert not close(train_ours(lr, wd, momentum, nesterov, 0.9, rule), GOLDEN["eader"])  # with poly decay


@pytest.mark.parametrize("paper, network", [("psa", "classifier"), ("irn", "classifier"),
                                            ("puzzlecam", "classifier"), ("eader", "classifier")])
def test_the_paper_configs_carry_the_golden_settings(paper, network):
    """The settings the golden test checks are the ones the paper config resolves to."""
    cfg = resolve(*PAPERS[paper])[network]
    lr, weight_decay, momentum, nesterov, poly_power, rule = OURS[paper]
    schedule = Schedule.from_config(cfg)
    assert (schedule.lr, schedule.weight_decay, schedule.momentum, schedule.nesterov, schedule.poly_power) == (
        lr, weight_decay, momentum, nesterov, poly_power)
    assert GroupRule.from_config(cfg) == rule

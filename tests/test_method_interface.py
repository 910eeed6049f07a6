"""The method interface (wsss.methods.base) gives bitwise the results of the if-chain it replaced.

For every method, and for puzzle + eader, a small classifier trains a few SGD steps on a fixed batch
twice from the same seed: through the frozen copy of the former code (tests/legacy_classifier_loss.py)
and through wsss.training.classifier. Losses, parts, every gradient and the final weights and BatchNorm
statistics must be equal with torch.equal: the same operations in the same order give the same bits on
the CPU. The steps cover Puzzle-CAM's alpha ramp (progress 0 to 0.8 with ramp 0.5) and EADER's turns
(switch_every 2: localizer, localizer, adversary, adversary, localizer).
"""

import copy
import re
from pathlib import Path

import pytest
import torch

import legacy_classifier_loss as legacy
from wsss.config import load_schema
from wsss.methods import MODULES
from wsss.methods.base import (METHODS, ClassifierMethod, attention_methods, class_attention, get_method, register,
                               training_methods)
from wsss.models.backbones import smallnet
from wsss.models.classifier import Classifier
from wsss.training.classifier import (build_networks, checkpoint_extras, classifier_loss, listed_methods,
                                      network_param_groups)
from wsss.training.loop import Step
from wsss.training.param_groups import GroupRule

from workflow_helpers import snakemake, write_config

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]

STEPS, LR, CLASSES = 5, 0.05, 5
PUZZLE = {"grid": [2, 2], "alpha": 4.0, "ramp": 0.5, "p_cls": True, "re": True}
EADER = {"omega": 100.0, "sigma": 0.5, "alpha": 0.05, "beta": 1e-5, "switch_every": 2, "attention": "cam",
         "normalisation": "relu_max", "adversary_lr_scale": 0.5}
GRADCAM_EADER = {**EADER, "attention": "gradcam", "normalisation": "min_max"}

# name: (classifier.methods, sections, multilabel)
CASES = {
    "cam": ([], {}, True),
    "entropy": (["entropy"], {"entropy": {"lambda": 0.3}}, True),
    "label_smoothing": (["label_smoothing"], {"label_smoothing": {"epsilon": 0.2}}, True),
    "confidence_penalty": (["confidence_penalty"], {"confidence_penalty": {"lambda": 0.4}}, True),
    "puzzle": (["puzzle"], {"puzzle": PUZZLE}, True),
    "puzzle_without_p_cls": (["puzzle"], {"puzzle": {**PUZZLE, "p_cls": False}}, True),
    "eader": (["eader"], {"eader": EADER}, True),
    "eader_gradcam_min_max": (["eader"], {"eader": GRADCAM_EADER}, True),
    "puzzle+eader": (["puzzle", "eader"], {"puzzle": PUZZLE, "eader": EADER}, True),
    "eader+puzzle+entropy": (["eader", "puzzle", "entropy"],
                             {"puzzle": PUZZLE, "eader": EADER, "entropy": {"lambda": 0.3}}, True),
    "single_label_cam": ([], {}, False),
    "single_label_label_smoothing": (["label_smoothing"], {"label_smoothing": {"epsilon": 0.2}}, False),
    "single_label_puzzle+eader": (["puzzle", "eader"], {"puzzle": PUZZLE, "eader": EADER}, False),
}


def batch(multilabel: bool):
    """(4, 3, 32, 32) images and (4, 5) labels: multi-hot with 1-3 classes, or one-hot."""
    generator = torch.Generator().manual_seed(7)
    images = torch.randn(4, 3, 32, 32, generator=generator)
    if multilabel:
        labels = (torch.rand(4, CLASSES, generator=generator) > 0.6).float()
        labels[torch.arange(4), torch.tensor([0, 3, 1, 4])] = 1
    else:
        labels = torch.nn.functional.one_hot(torch.tensor([0, 3, 1, 4]), CLASSES).float()
    return images, labels


def make_classifier():
    return Classifier(smallnet(8, width=4), num_classes=CLASSES)


def legacy_setup(methods, sections, multilabel):
    model = make_classifier()
    scale = sections.get("eader", {}).get("adversary_lr_scale", 1.0)
    trained, groups, extras = legacy.trained_networks(model, make_classifier, methods, LR, scale, GroupRule())
    weight = legacy.regulariser_weight(sections, methods)
    loss_fn = legacy.classifier_loss(methods, puzzle=sections.get("puzzle"), eader=sections.get("eader"),
                                     weight=weight, multilabel=multilabel)
    return trained, groups, loss_fn, lambda: extras


def interface_setup(methods, sections, multilabel):
    model = make_classifier()
    listed = listed_methods(methods, multilabel=multilabel, **sections)
    trained = build_networks(listed, model, make_classifier)
    groups = network_param_groups(listed, trained, LR, GroupRule())
    loss_fn = classifier_loss(methods, multilabel=multilabel, **sections)
    return trained, groups, loss_fn, lambda: checkpoint_extras(listed, trained)


def train(setup, methods, sections, multilabel):
    """Per step (loss, parts, {parameter: grad}), then the final state_dict, group layout and extras."""
    torch.manual_seed(0)
    trained, groups, loss_fn, extras = setup(methods, sections, multilabel)
    names = {id(p): name for name, p in trained.named_parameters()}
    layout = [(g["name"], g["lr"], g.get("weight_decay"), [names[id(p)] for p in g["params"]]) for g in groups]
    optimizer = torch.optim.SGD(groups, lr=LR, momentum=0.9)
    trained.train()
    images, labels = batch(multilabel)
    steps = []
    for iteration in range(STEPS):
        loss, parts = loss_fn(trained, (images, labels), Step(iteration, STEPS))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grads = {name: None if p.grad is None else p.grad.clone() for name, p in trained.named_parameters()}
        steps.append((loss.detach().clone(), dict(parts), grads))
        optimizer.step()
    return steps, copy.deepcopy(trained.state_dict()), layout, extras()


def assert_same_tensors(a: dict, b: dict, what: str):
    assert a.keys() == b.keys(), what
    for key in a:
        if a[key] is None or b[key] is None:
            assert a[key] is None and b[key] is None, f"{what} {key}"
        else:
            assert torch.equal(a[key], b[key]), f"{what} {key}"


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_the_interface_gives_the_former_losses_gradients_and_weights_bitwise(case):
    methods, sections, multilabel = CASES[case]
    before = train(legacy_setup, methods, sections, multilabel)
    after = train(interface_setup, methods, sections, multilabel)
    for i, ((loss_a, parts_a, grads_a), (loss_b, parts_b, grads_b)) in enumerate(zip(before[0], after[0])):
        assert torch.equal(loss_a, loss_b), f"step {i} loss"
        assert parts_a == parts_b, f"step {i} parts"
        assert_same_tensors(grads_a, grads_b, f"step {i} gradient of")
    assert_same_tensors(before[1], after[1], "final")
    assert before[2] == after[2]  # the optimiser's groups: names, lrs, weight decays, parameters in order
    assert before[3].keys() == after[3].keys()
    for key in before[3]:
        assert_same_tensors(before[3][key], after[3][key], key)


def test_the_cases_reach_every_phase_and_the_alpha_ramp():
    steps = train(interface_setup, *CASES["puzzle+eader"])[0]
    assert [set(parts) == {"adversary"} for _, parts, _ in steps] == [False, False, True, True, False]
    alphas = [parts["alpha"] for _, parts, _ in steps if "alpha" in parts]
    assert alphas == [0.0, 1.6, 4.0]  # progress 0, 0.2 (ramping) and 0.8 (past the ramp of 0.5)
    assert set(steps[0][1]) == {"cls", "p_cls", "re", "alpha", "mining", "area"}  # both methods' terms


@pytest.mark.parametrize("attention", ["cam", "gradcam"])
def test_inference_attention_equals_the_former_dispatch_bitwise(attention):
    torch.manual_seed(0)
    model = make_classifier().eval()
    images = batch(True)[0]
    assert torch.equal(class_attention(model, images, attention), legacy.class_attention(model, images, attention))


def test_an_unknown_or_training_only_attention_is_refused():
    model = make_classifier().eval()
    for name in ("scorecam", "puzzle"):
        with pytest.raises(ValueError, match=f"unknown attention method '{name}'; expected one of cam, gradcam"):
            class_attention(model, batch(True)[0], name)


def test_the_registry_lists_each_method_by_role():
    known = ["entropy", "label_smoothing", "confidence_penalty", "puzzle", "eader"]  # in the table's order
    assert [name for name in training_methods() if name in known] == known
    assert not set(training_methods()) & set(attention_methods())
    assert attention_methods() == ["cam", "gradcam"]
    assert [name for name in METHODS if METHODS[name].regulariser] == ["entropy", "label_smoothing",
                                                                       "confidence_penalty"]
    assert all(METHODS[name].name == name for name in METHODS)
    with pytest.raises(ValueError, match="unknown method 'not_a_method'"):
        get_method("not_a_method")


def test_at_most_one_regulariser_and_only_known_training_methods():
    with pytest.raises(ValueError, match=r"at most one classifier regulariser at a time, got \['entropy', "
                                         r"'label_smoothing'\]"):
        listed_methods(["entropy", "label_smoothing"])
    with pytest.raises(ValueError, match=r"unknown classifier methods \['gradcam'\]"):
        listed_methods(["gradcam"])  # an attention method, not a training one
    with pytest.raises(ValueError, match=r"classifier.puzzle: unknown settings \['grids'\]"):
        listed_methods(["puzzle"], puzzle={"grids": [2, 2]})


def test_listed_methods_take_the_registry_order_and_fill_in_defaults():
    listed = listed_methods(["eader", "puzzle"], eader={"alpha": 0.1})
    assert [m.name for m in listed] == ["puzzle", "eader"]
    assert listed[0].settings == get_method("puzzle").defaults
    assert listed[1].settings == {**get_method("eader").defaults, "alpha": 0.1}


class Halves(ClassifierMethod):
    """A made-up method for the test: trains on the left half of each image and adds weight * mean(cams^2)."""

    defaults = {"weight": 0.5}

    def transform_batch(self, images, labels, step):
        return images[..., : images.shape[-1] // 2], labels

    def add_loss_terms(self, loss, forward, step):
        term = forward.cams.pow(2).mean()
        return loss + self.settings["weight"] * term, {"halves": term.item()}


def test_a_new_method_needs_only_its_class_and_registration(monkeypatch):
    monkeypatch.setattr(Halves, "name", "")
    monkeypatch.setattr(METHODS, "_classes", dict(METHODS._classes))  # the registration ends with the test
    register("halves")(Halves)
    torch.manual_seed(0)
    model = make_classifier()
    images, labels = batch(True)
    loss, parts = classifier_loss(["halves", "entropy"], halves={"weight": 2.0})(model, (images, labels), Step(0, 1))
    cams = model.class_maps(images[..., :16])  # the hook's batch reached the shared forward
    logits = cams.mean(dim=(2, 3))
    entropy = get_method("entropy")()  # its default lambda, 1e-4
    expected = entropy.classification_loss(logits, labels)[0] + 2.0 * cams.pow(2).mean()
    assert torch.equal(loss, expected)
    assert parts["halves"] == cams.pow(2).mean().item() and "entropy" in parts
    assert training_methods()[-1] == "halves"  # after the table's methods


def test_the_schema_offers_exactly_the_registry_with_its_defaults():
    schema = load_schema(REPO / "config.schema.yaml")["properties"]
    classifier = schema["classifier"]["properties"]
    assert sorted(classifier["methods"]["items"]["enum"]) == sorted(training_methods())
    regularisers = [name for name in training_methods() if METHODS[name].regulariser]
    assert sorted(classifier["methods"]["contains"]["enum"]) == sorted(regularisers)
    assert classifier["methods"]["maxContains"] == 1
    assert sorted(schema["cams"]["properties"]["attention"]["enum"]) == sorted(attention_methods())
    for name in training_methods():
        properties = classifier[name]["properties"] if name in classifier else {}
        assert {key: spec["default"] for key, spec in properties.items()} == METHODS[name].defaults, name


def test_the_table_names_each_method_module_and_the_method_modules_it_imports():
    for name, modules in MODULES.items():
        assert METHODS[name].__module__ == f"wsss.methods.{modules[0]}", name
        source = (REPO / "wsss" / "methods" / f"{modules[0]}.py").read_text()
        imported = set(re.findall(r"^from \.(\w+) import", source, flags=re.M)) - {"base"}  # base: every rule's
        assert imported <= set(modules), f"{name}: {modules[0]}.py imports {sorted(imported - set(modules))}"


def test_the_rules_declare_the_modules_of_the_methods_each_experiment_uses(tmp_path):
    experiments = {"cam": {}, "puzzle+eader": {"classifier": {"methods": ["puzzle", "eader"]}},
                   "cam+entropy": {"classifier": {"methods": ["entropy"]}},
                   "cam+gradcam": {"cams": {"attention": "gradcam"}}}
    write_config(tmp_path, {"run_experiments": list(experiments), "experiments": experiments,
                            "localization": {"experiments": ["cam"]}})
    out = snakemake(tmp_path, "-n")  # the whole DAG, dry
    declared = {}  # (rule, experiment) -> the wsss/methods modules among its inputs
    for rule, inputs, outputs in re.findall(r"^rule (\w+):\n\s+input: (.*)\n\s+output: (.*)$", out.stdout, flags=re.M):
        experiment = outputs.split(", ")[0].split("/")[2]  # results/<dataset>/<experiment>/...
        declared[rule, experiment] = {path.rsplit("/", 1)[1][:-3] for path in inputs.split(", ")
                                      if "/wsss/methods/" in path}

    def modules(names):
        return {module for name in names for module in MODULES[name]}

    for name, overrides in experiments.items():
        listed = overrides.get("classifier", {}).get("methods", [])
        attention = overrides.get("cams", {}).get("attention", "cam")
        if name != "cam+gradcam":  # (its classifier is cam's: the same settings)
            assert declared["train_classifier", name] == {"base", "entropy"} | modules(listed), name
        assert declared["make_cams", name] == {"base", "cam"} | modules([attention]), name
    assert declared["train_classifier", "puzzle+eader"] == {"base", "entropy", "puzzle", "eader", "cam", "gradcam"}

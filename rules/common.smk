# Path helpers and config lookups shared by every rule file. No side effects.
import copy
import json
import re

from snakemake.exceptions import WorkflowError


def deep_merge(base, overrides):
    """base with overrides applied key by key into nested dicts (lists and scalars are replaced)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def add_sweep_experiments():
    """Add one experiment per value of every sweep to config['experiments']; return their names."""
    names = []
    for sweep_name, sweep in config["sweeps"].items():
        if sweep["base"] not in config["experiments"]:
            raise WorkflowError(f"config key sweeps.{sweep_name}.base: {sweep['base']!r} is not an experiment")
        path = sweep["key"].split(".")
        for value in sweep["values"]:
            overrides = copy.deepcopy(config["experiments"][sweep["base"]] or {})
            node = overrides
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
            name = f"{sweep['base']}@{path[-1]}={value}"
            config["experiments"][name] = overrides
            names.append(name)
    return names


def experiment_configs():
    """Experiment name -> the whole config with its overrides merged, validated against the schema."""
    base = {key: value for key, value in config.items() if key != "experiments"}
    merged = {}
    for name, overrides in config["experiments"].items():
        candidate = deep_merge(base, overrides or {})
        candidate["experiments"] = {name: {}}
        errors = config_errors(candidate, SCHEMA, prefix=f"experiments.{name}: ")
        if errors:
            raise WorkflowError("invalid experiment:\n" + "\n".join(errors))
        merged[name] = candidate
    return merged


def drop_duplicate_sweeps(merged, sweep_names):
    """Sweep experiments whose merged config equals another experiment's are replaced by that one
    (e.g. the sweep's default value), so no network is trained twice. Returns the kept names."""
    kept = []
    for name in sweep_names:
        same = [other for other in merged if other != name and other not in sweep_names
                and {**merged[other], "experiments": None} == {**merged[name], "experiments": None}]
        if same:
            del merged[name], config["experiments"][name]
            kept.append(same[0])
        else:
            kept.append(name)
    return kept


DATASET = config["dataset"]["name"]
SWEEP_EXPERIMENTS = add_sweep_experiments()
EXPERIMENT_CONFIG = experiment_configs()
SWEEP_EXPERIMENTS = drop_duplicate_sweeps(EXPERIMENT_CONFIG, SWEEP_EXPERIMENTS)
EXPERIMENTS = list(config["experiments"])


def chosen_experiments(names, key):
    """The experiments a config key lists (None = all of them), each checked to exist."""
    names = EXPERIMENTS if names is None else list(names)
    for name in names:
        if name not in EXPERIMENTS:
            raise WorkflowError(f"config key {key}: {name!r} is not one of the experiments {EXPERIMENTS}")
    return names


RUN_EXPERIMENTS = chosen_experiments(config["run_experiments"], "run_experiments")
LOCALIZATION_EXPERIMENTS = list(dict.fromkeys(
    chosen_experiments(config["localization"]["experiments"], "localization.experiments") + SWEEP_EXPERIMENTS))
def check_split_names():
    """Every split a key names must be one of dataset.splits (else a one-line error naming the key)."""
    known = list(config["dataset"]["splits"])
    named = {"dataset.train_split": [config["dataset"]["train_split"]],
             "dataset.val_split": [config["dataset"]["val_split"]],
             "dataset.eval_splits": config["dataset"]["eval_splits"],
             "localization.split": [config["localization"]["split"]]}
    for key, names in named.items():
        for name in names:
            if name not in known:
                raise WorkflowError(f"config key {key}: split {name!r} is not one of dataset.splits {known}")


check_split_names()
EVAL_SPLITS = list(config["dataset"]["eval_splits"])
ALL_SPLITS = list(config["dataset"]["splits"])
TRAIN_SPLIT = config["dataset"]["train_split"]
VAL_SPLIT = config["dataset"]["val_split"]


wildcard_constraints:
    dataset=DATASET,
    experiment="|".join(re.escape(name) for name in EXPERIMENTS),
    split="|".join(ALL_SPLITS),
    supervision="pseudo|gt",


def results(path):
    """A path under the results folder."""
    return f"{config['results']}/{path}"


def data_root():
    """The VOC-layout root (generated for the synthetic dataset, given in config for real VOC), or for a
    wsolevaluation dataset the dict wsss.data.layouts.open_layout reads."""
    kind = config["dataset"]["kind"]
    if kind == "synthetic":
        return results(f"{DATASET}/data")
    if config["dataset"]["root"] is None:
        raise WorkflowError(f"config key dataset.root: required for dataset.kind {kind}")
    if kind == "wsol":
        wsol = config["dataset"]["wsol"]
        if wsol["metadata_root"] is None:
            raise WorkflowError("config key dataset.wsol.metadata_root: required for dataset.kind wsol")
        return {"kind": "wsol", "data_root": config["dataset"]["root"], "metadata_root": wsol["metadata_root"],
                "name": wsol["name"]}
    return config["dataset"]["root"]


IS_WSOL = config["dataset"]["kind"] == "wsol"
MULTILABEL = not IS_WSOL  # VOC is multi-label; the wsolevaluation datasets have one class per image


def dataset_inputs(wildcards):
    """What the label table depends on: the generated folder, the VOC split lists, or the wsol metadata files."""
    kind = config["dataset"]["kind"]
    if kind == "synthetic":
        return [data_root()]
    if kind == "wsol":
        root = data_root()
        folders = [f"{root['metadata_root']}/{root['name']}/{folder}" for folder in config["dataset"]["splits"].values()]
        return [f"{folder}/{name}" for folder in folders for name in ("image_ids.txt", "class_labels.txt")]
    return [f"{data_root()}/{path}" for path in config["dataset"]["splits"].values()]


def split_folder(wildcards):
    """A wsol split's metadata folder name ('' for VOC-layout data, whose splits are list files)."""
    return config["dataset"]["splits"][wildcards.split] if IS_WSOL else ""


def needs_masks(stage):
    """An input function that stops the DAG when a stage needing VOC-style class masks meets wsol data."""
    def check(wildcards):
        if IS_WSOL:
            raise WorkflowError(f"{stage} needs VOC-style class masks; dataset.kind wsol has none: "
                                "build the target `localization` (the default for this kind)")
        return []
    return check


def section(experiment, name):
    """One config section with the experiment's overrides applied."""
    return copy.deepcopy(EXPERIMENT_CONFIG[experiment][name])


def classifier_section(experiment):
    """The classifier section without the settings of methods it does not use (so they rerun nothing)."""
    cfg = section(experiment, "classifier")
    for method in ("puzzle", "eader", "entropy", "label_smoothing", "confidence_penalty"):
        if method not in cfg["methods"]:
            cfg.pop(method)  # (the schema allows at most one of the three regularisers)
    if "puzzle" in cfg:
        rows, cols = cfg["puzzle"]["grid"]
        if cfg["crop_size"] % rows or cfg["crop_size"] % cols:
            raise WorkflowError(f"config key experiments.{experiment}: classifier.crop_size {cfg['crop_size']} "
                                f"is not divisible by the puzzle grid {rows}x{cols}")
    return cfg


def code(*modules):
    """Library modules a stage runs, declared as inputs so that changing a formula reruns its stage."""
    return [f"{workflow.basedir}/wsss/{module}" for module in modules]


def segmentation_masks(wildcards):
    """Training masks: the experiment's pseudo masks, or (upper bound) the dataset's own."""
    if wildcards.supervision == "gt":
        return []
    return [results(f"{wildcards.dataset}/{wildcards.experiment}/pseudo_masks/{TRAIN_SPLIT}")]


def first_equal(experiment, key):
    """The first experiment, in config order, whose key(name) equals this one's: a stage that depends only
    on that key is built once, under that experiment's folder, and shared (adding an experiment at the
    end of the list therefore never moves a shared stage)."""
    mine = key(experiment)
    return next(name for name in EXPERIMENTS if key(name) == mine)


def classifier_key(experiment):
    return json.dumps(classifier_section(experiment), sort_keys=True)


def upper_bound_key(experiment):
    """What the fully supervised segmenter depends on: its settings, the CRF, and the classifier it may start from."""
    segmentation = section(experiment, "segmentation")
    init = classifier_key(experiment) if segmentation["init_from_classifier"] else None
    return json.dumps([segmentation, section(experiment, "crf"), init], sort_keys=True)


def classifier_model(wildcards):
    """The experiment's classifier; experiments with equal classifier settings share one."""
    owner = first_equal(wildcards.experiment, classifier_key)
    return results(f"{wildcards.dataset}/{owner}/classifier/model.pt")


def upper_bound_scores(wildcards):
    """The fully supervised upper bound on val; experiments with equal segmentation settings share one."""
    owner = first_equal(wildcards.experiment, upper_bound_key)
    return results(f"{wildcards.dataset}/{owner}/eval/segmentation_gt_{VAL_SPLIT}.tsv")


def segmenter_init(wildcards):
    """The classifier whose backbone initialises the segmenter, when configured."""
    if section(wildcards.experiment, "segmentation")["init_from_classifier"]:
        return [classifier_model(wildcards)]
    return []


def print_results_location():
    if IS_WSOL:
        print(f"localization table: {results(f'{DATASET}/localization.md')}")
        return
    for experiment in RUN_EXPERIMENTS:
        print(f"results: {results(f'{DATASET}/{experiment}/summary.tsv')}")
    print(f"experiments compared: {results(f'{DATASET}/experiments.md')}")

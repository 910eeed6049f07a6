# Path helpers and config lookups shared by every rule file. No side effects.
import copy
import functools
import json
import re

from snakemake.exceptions import WorkflowError

from wsss.data.sbd_layout import AUG_DIR, TRAIN_AUG_LIST, list_files, sbd_dataset_root
from wsss.errors import DatasetError
from wsss.methods import MODULES as METHOD_MODULES


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
        same = [
            other
            for other in merged
            if other != name
            and other not in sweep_names
            and {**merged[other], "experiments": None} == {**merged[name], "experiments": None}
        ]
        if same:
            del merged[name], config["experiments"][name]
            kept.append(same[0])
        else:
            kept.append(name)
    return kept


DATASET = config["dataset"]["name"]
#: Every run experiment is trained and scored once per seed, under <experiment>/seed<k>/.
SEEDS = list(config["seeds"])
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
LOCALIZATION_EXPERIMENTS = list(
    dict.fromkeys(
        chosen_experiments(config["localization"]["experiments"], "localization.experiments") + SWEEP_EXPERIMENTS
    )
)


def check_split_names():
    """Every split a key names must be one of dataset.splits (else a one-line error naming the key)."""
    known = list(config["dataset"]["splits"])
    named = {
        "dataset.train_split": [config["dataset"]["train_split"]],
        "dataset.val_split": [config["dataset"]["val_split"]],
        "dataset.eval_splits": config["dataset"]["eval_splits"],
        "localization.split": [config["localization"]["split"]],
        "evaluation.subsets": [*config["evaluation"]["subsets"], *config["evaluation"]["subsets"].values()],
    }
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
    seed="|".join(str(seed) for seed in SEEDS),


def results(path):
    """A path under the results folder."""
    return f"{config['results']}/{path}"


def coco_layout():
    """The VOC layout that rule make_coco_masks converts COCO into (dataset.kind coco)."""
    return results(f"{DATASET}/coco_layout")


def coco_instances(wildcards):
    """The instances JSON of every COCO image set that dataset.coco.splits names (rule make_coco_masks)."""
    root, sets = config["dataset"]["root"], dict.fromkeys(config["dataset"]["coco"]["splits"].values())
    return [f"{root}/annotations/instances_{name}.json" for name in sets]


def data_root():
    """The VOC-layout root (generated for the synthetic dataset, converted from COCO, given in config for
    real VOC), or for a wsolevaluation dataset the dict wsss.data.layouts.open_layout reads."""
    kind = config["dataset"]["kind"]
    if kind == "synthetic":
        return results(f"{DATASET}/data")
    if config["dataset"]["root"] is None:
        raise WorkflowError(f"config key dataset.root: required for dataset.kind {kind}")
    if kind == "coco":
        return coco_layout()
    if kind == "wsol":
        wsol = config["dataset"]["wsol"]
        if wsol["metadata_root"] is None:
            raise WorkflowError("config key dataset.wsol.metadata_root: required for dataset.kind wsol")
        return {
            "kind": "wsol",
            "data_root": config["dataset"]["root"],
            "metadata_root": wsol["metadata_root"],
            "name": wsol["name"],
        }
    return config["dataset"]["root"]


IS_WSOL = config["dataset"]["kind"] == "wsol"
MULTILABEL = not IS_WSOL  # VOC is multi-label; the wsolevaluation datasets have one class per image


def check_coco_splits():
    """For kind coco, every split of dataset.splits must be one of dataset.coco.splits, listed where the
    conversion writes it (else a one-line error naming the key)."""
    coco = config["dataset"]["coco"]["splits"]
    for name, path in config["dataset"]["splits"].items():
        if name not in coco:
            raise WorkflowError(
                f"config key dataset.splits: split {name!r} is not one of dataset.coco.splits {list(coco)}"
            )
        if path != f"ImageSets/Segmentation/{name}.txt":
            raise WorkflowError(
                f"config key dataset.splits.{name}: {path!r}; the COCO conversion lists it as "
                f"'ImageSets/Segmentation/{name}.txt'"
            )
    unknown = [name for name in config["dataset"]["coco"]["max_images"] if name not in coco]
    if unknown:
        raise WorkflowError(f"config key dataset.coco.max_images: splits {unknown} are not in dataset.coco.splits")


IS_COCO = config["dataset"]["kind"] == "coco"
if IS_COCO:
    check_coco_splits()


def dataset_inputs(wildcards):
    """What the label table depends on: the generated folder, the COCO conversion's summary (its layout is
    made by the same job; hashing it would read every image), the VOC split lists, or the wsol metadata files."""
    kind = config["dataset"]["kind"]
    if kind == "synthetic":
        return [data_root()]
    if kind == "coco":
        return [f"{coco_layout()}.tsv"]
    if kind == "wsol":
        root = data_root()
        folders = [
            f"{root['metadata_root']}/{root['name']}/{folder}" for folder in config["dataset"]["splits"].values()
        ]
        return [f"{folder}/{name}" for folder in folders for name in ("image_ids.txt", "class_labels.txt")]
    return [f"{data_root()}/{path}" for path in config["dataset"]["splits"].values()]


def split_folder(wildcards):
    """A wsol split's metadata folder name ('' for VOC-layout data, whose splits are list files)."""
    return config["dataset"]["splits"][wildcards.split] if IS_WSOL else ""


def needs_masks(stage):
    """An input function that stops the DAG when a stage needing VOC-style class masks meets wsol data."""

    def check(wildcards):
        if IS_WSOL:
            raise WorkflowError(
                f"{stage} needs VOC-style class masks; dataset.kind wsol has none: "
                "build the target `localization` (the default for this kind)"
            )
        return []

    return check


def section(experiment, name):
    """One config section with the experiment's overrides applied."""
    return copy.deepcopy(EXPERIMENT_CONFIG[experiment][name])


def classifier_section(experiment):
    """The classifier section without the settings of methods it does not use (so they rerun nothing)."""
    cfg = section(experiment, "classifier")
    for method in METHOD_MODULES:  # a training method's settings are classifier.<its name>
        if method not in cfg["methods"]:
            cfg.pop(method, None)
    if "puzzle" in cfg:
        rows, cols = cfg["puzzle"]["grid"]
        if cfg["crop_size"] % rows or cfg["crop_size"] % cols:
            raise WorkflowError(
                f"config key experiments.{experiment}: classifier.crop_size {cfg['crop_size']} "
                f"is not divisible by the puzzle grid {rows}x{cols}"
            )
    return cfg


def code(*modules):
    """Library modules a stage runs, declared as inputs so that changing a formula reruns its stage."""
    return [f"{workflow.basedir}/wsss/{module}" for module in modules]


def method_files(experiment, setting):
    """The library modules of the methods an experiment's setting names, from the registry's table
    (wsss.methods.MODULES). setting: a config path, classifier/methods (a list) or cams/attention (one name)."""
    name, key = setting.split("/")
    names = section(experiment, name)[key]
    names = [names] if isinstance(names, str) else names
    return [f"methods/{module}.py" for method in names for module in METHOD_MODULES[method]]


def method_code(*modules, methods):
    """Input function: code(*modules) and the modules of the methods the job's experiment names in the
    setting `methods` (method_files), so that editing a method reruns only the experiments that use it."""

    def function(wildcards):
        return code(*dict.fromkeys([*modules, *method_files(wildcards.experiment, methods)]))

    return function


# --- shared stages -------------------------------------------------------------------------------
# Every stage output is owned by the first experiment (in config order) whose settings for that stage
# and everything upstream of it are equal; other experiments read it from the owner's folder, so e.g.
# cam+gradcam reuses cam's classifier and an experiment that only turns on the random walk's dCRF
# reuses cam's CAMs, affinity labels and AffinityNet. Adding an experiment at the end of the list
# never moves a shared stage, so it reruns nothing of the others. Every stage of an experiment depends
# on the seed (the classifier's, or the segmenter's for an upper bound that does not start from it),
# so the seed is in every path, <experiment>/seed<k>/, not in the keys: experiments share a stage only
# at the same seed, and a new seed adds folders without touching the others'.


def settings(experiment, name):
    """A config section as far as results go: without `threads` (how fast, not what)."""
    values = classifier_section(experiment) if name == "classifier" else section(experiment, name)
    values.pop("threads", None)
    return values


@functools.cache
def stage_key(experiment, stage):
    """JSON of everything the stage's output depends on for this experiment (its own and upstream settings)."""
    up = functools.partial(stage_key, experiment)
    own = functools.partial(settings, experiment)
    parts = {
        "classifier": lambda: [MULTILABEL, own("classifier")],
        "cams": lambda: [up("classifier"), own("cams")],
        "cam_eval": lambda: [up("cams"), own("evaluate_cams")],
        "localization": lambda: [up("cams"), own("localization")],
        "affinity_labels": lambda: [up("cams"), own("affinity_labels"), own("crf")],
        "affinitynet": lambda: [up("affinity_labels"), own("affinitynet")],
        "random_walk": lambda: [up("affinitynet"), own("random_walk")],
        "cam_masks": lambda: [up("cams"), own("pseudo_masks"), own("crf")],
        "pseudo_masks": lambda: [up(pseudo_mask_stage(experiment))],
        "segmenter": lambda: [up("pseudo_masks"), own("segmentation"), own("crf")],
        "upper_bound": lambda: [
            own("segmentation"),
            own("crf"),
            up("classifier") if own("segmentation")["init_from_classifier"] else None,
        ],
    }
    return json.dumps(parts[stage](), sort_keys=True)


def pseudo_mask_stage(experiment):
    """The stage that makes the experiment's training masks: random_walk (PSA) or cam_masks (no RW)."""
    return "random_walk" if section(experiment, "pseudo_masks")["source"] == "random_walk" else "cam_masks"


def owner(experiment, stage):
    """The experiment under whose folder this experiment's output of stage is built."""
    mine = stage_key(experiment, stage)
    return next(name for name in EXPERIMENTS if stage_key(name, stage) == mine)


def owned_result(stage, experiment, path, **wildcards):
    """results(path) with {experiment} the owner of stage, other {placeholders} from wildcards."""
    return results(path.format(**wildcards, experiment=owner(experiment, stage)))


def owned(stage, path):
    """Input function: path under the folder of the experiment that owns stage (a stage name, or a
    function of the wildcards giving one)."""

    def function(wildcards):
        name = stage(wildcards) if callable(stage) else stage
        values = {key: value for key, value in wildcards.items() if key != "experiment"}
        return owned_result(name, wildcards.experiment, path, **values)

    return function


def job_seed(wildcards):
    """The seed of a job's network (its initialisation, batch order and augmentation)."""
    return int(wildcards.seed)


def segmenter_stage(wildcards):
    return "upper_bound" if wildcards.supervision == "gt" else "segmenter"


def mask_folder(stage):
    """The folder (under an experiment) of a pseudo-mask stage's masks."""
    return {"random_walk": "pseudo_masks", "cam_masks": "cam_masks"}[stage]


classifier_model = owned("classifier", "{dataset}/{experiment}/seed{seed}/classifier/model.pt")
upper_bound_scores = owned(
    "upper_bound", f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/segmentation_gt_{VAL_SPLIT}.tsv"
)


def pseudo_mask_folder(wildcards, split):
    """The pseudo masks of split for the job's experiment and seed, under the owner of the stage that makes them."""
    stage = pseudo_mask_stage(wildcards.experiment)
    path = f"{{dataset}}/{{experiment}}/seed{{seed}}/{mask_folder(stage)}/{split}"
    return owned_result(stage, wildcards.experiment, path, dataset=wildcards.dataset, seed=wildcards.seed)


def pseudo_mask_input(wildcards):
    """The experiment's pseudo-mask folder of the job's split (for its evaluation and overlays)."""
    return pseudo_mask_folder(wildcards, wildcards.split)


def segmentation_masks(wildcards):
    """Training masks: the experiment's pseudo masks, or (upper bound) the dataset's own."""
    if wildcards.supervision == "gt":
        return []
    return [pseudo_mask_folder(wildcards, TRAIN_SPLIT)]


def segmenter_init(wildcards):
    """The classifier whose backbone initialises the segmenter, when configured."""
    if section(wildcards.experiment, "segmentation")["init_from_classifier"]:
        return [classifier_model(wildcards)]
    return []


def affinity_label_scores(wildcards):
    """The affinity-label evaluation of an experiment whose masks come from the random walk (else none)."""
    if pseudo_mask_stage(wildcards.experiment) != "random_walk":
        return []
    return [
        owned_result(
            "affinity_labels",
            wildcards.experiment,
            f"{{dataset}}/{{experiment}}/seed{{seed}}/eval/affinity_labels_{TRAIN_SPLIT}.tsv",
            dataset=wildcards.dataset,
            seed=wildcards.seed,
        )
    ]


# --- paper tables (rules/tables.smk) ---


def paper_table(name, caption):
    """The three outputs of one paper table; the TSV is a report() item."""
    stem = results(f"{{dataset}}/tables/{name}")
    return {
        "table": report(f"{stem}.tsv", caption=f"../report/{caption}", category="Paper tables"),
        "markdown": f"{stem}.md",
        "latex": f"{stem}.tex",
    }


def summaries_of(names):
    """The named experiments' summaries at every seed, seed-major (wsss.tables.read_seed_summaries' order)."""
    return [results(f"{{dataset}}/{name}/seed{seed}/summary.tsv") for seed in SEEDS for name in names]


def localization_of(names):
    """The localization scores of the named experiments at every seed, seed-major (each from the owner
    of its CAMs' evaluation)."""
    return [
        owned_result(
            "localization",
            name,
            "{dataset}/{experiment}/seed{seed}/eval/localization_{split}.tsv",
            dataset=DATASET,
            seed=seed,
            split=config["localization"]["split"],
        )
        for seed in SEEDS
        for name in names
    ]


def table_baseline(names):
    """The row a table's other rows are compared with, seed by seed: tables.baseline where the table lists it."""
    return BASELINE if BASELINE in names else None


def sweep_values():
    """{experiment: value} of the sweep the sweep table shows (after duplicate folding)."""
    sweep = config["sweeps"][config["tables"]["sweep"]]
    path = sweep["key"].split(".")
    values = {}
    for name in EXPERIMENTS:
        node = EXPERIMENT_CONFIG[name]
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        same_base = name == sweep["base"] or name.startswith(f"{sweep['base']}@")
        if same_base and node in sweep["values"]:
            values.setdefault(node, name)
    return {name: value for value, name in values.items()}


TABLE_METHODS = chosen_experiments(config["tables"]["methods"] or RUN_EXPERIMENTS, "tables.methods")
TABLE_PUZZLE = chosen_experiments(config["tables"]["puzzle_ablation"], "tables.puzzle_ablation")
TABLE_REFINEMENT = chosen_experiments(config["tables"]["refinement"], "tables.refinement")
if config["tables"]["sweep"] is not None and config["tables"]["sweep"] not in config["sweeps"]:
    raise WorkflowError(
        f"config key tables.sweep: {config['tables']['sweep']!r} is not one of sweeps {list(config['sweeps'])}"
    )
TABLE_SWEEP = sweep_values() if config["tables"]["sweep"] else {}
TABLE_LOCALIZATION = chosen_experiments(config["localization"]["experiments"], "localization.experiments")
BASELINE = config["tables"]["baseline"]
if BASELINE is not None:
    chosen_experiments([BASELINE], "tables.baseline")


def sweep_baseline():
    """The sweep table's baseline: the experiment of the sweep's first value (e.g. lambda 0)."""
    first = config["sweeps"][config["tables"]["sweep"]]["values"][0]
    return next((name for name, value in TABLE_SWEEP.items() if value == first), None)


def table_targets():
    """Every table the config asks for (none on wsol data but localization and sweep)."""
    names = ["localization"] + (["sweep"] if TABLE_SWEEP else [])
    if not IS_WSOL:
        names += (
            ["methods"] + (["puzzle_ablation"] if TABLE_PUZZLE else []) + (["refinement"] if TABLE_REFINEMENT else [])
        )
    return [results(f"{DATASET}/tables/{name}.tsv") for name in names]


def print_results_location():
    if IS_WSOL:
        print(f"localization table: {results(f'{DATASET}/localization.md')}")
        return
    for experiment in RUN_EXPERIMENTS:
        for seed in SEEDS:
            print(f"results: {results(f'{DATASET}/{experiment}/seed{seed}/summary.tsv')}")
    print(f"experiments compared: {results(f'{DATASET}/experiments.md')}")


def training_gpus(network):
    """The GPUs of a training job: its network's data-parallel processes (config <network>.processes)."""
    return lambda wildcards: section(wildcards.experiment, network)["processes"]


# --- data preparation (rules/prepare.smk) ---------------------------------------------------------


def prepare_roots():
    """(VOC2012 folder, SBD dataset folder) of config prepare, None where not set; voc_root defaults to
    dataset.root when dataset.kind is voc, spelt as given, so that the outputs are the very paths that
    make_labels reads for a train_aug split."""
    voc, sbd = config["prepare"]["voc_root"], config["prepare"]["sbd_root"]
    if voc is None and config["dataset"]["kind"] == "voc":
        voc = config["dataset"]["root"]
    return (voc or None), (str(sbd_dataset_root(sbd)) if sbd else None)


PREPARE_VOC, PREPARE_SBD = prepare_roots()


def prepare_targets(wildcards):
    """What target `prepare` builds; one line naming the config key where a root is not set."""
    if PREPARE_SBD is None:
        raise WorkflowError("config key prepare.sbd_root: required for target prepare (SBD's benchmark_RELEASE folder)")
    if PREPARE_VOC is None:
        raise WorkflowError("config key prepare.voc_root: required for target prepare (the VOC2012 folder)")
    return [f"{PREPARE_VOC}/{AUG_DIR}", f"{PREPARE_VOC}/{TRAIN_AUG_LIST}"]


def prepare_lists(wildcards):
    """The SBD and VOC split lists, each checked to exist before any job (one line naming a missing one)."""
    try:
        return {name: str(path) for name, path in list_files(PREPARE_VOC, PREPARE_SBD).items()}
    except DatasetError as error:
        raise WorkflowError(str(error)) from None

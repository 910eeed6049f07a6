# Path helpers and config lookups shared by every rule file. No side effects.
import copy


DATASET = config["dataset"]["name"]
EXPERIMENTS = list(config["experiments"])
EVAL_SPLITS = list(config["dataset"]["eval_splits"])
ALL_SPLITS = list(config["dataset"]["splits"])
TRAIN_SPLIT = config["dataset"]["train_split"]
VAL_SPLIT = config["dataset"]["val_split"]


wildcard_constraints:
    dataset=DATASET,
    experiment="|".join(EXPERIMENTS),
    split="|".join(ALL_SPLITS),
    supervision="pseudo|gt",


def results(path):
    """A path under the results folder."""
    return f"{config['results']}/{path}"


def data_root():
    """The VOC-layout root: generated for the synthetic dataset, given in config for real VOC."""
    if config["dataset"]["kind"] == "synthetic":
        return results(f"{DATASET}/data")
    return config["dataset"]["root"]


def dataset_inputs(wildcards):
    """What the label table depends on: the generated folder, or the real dataset's split lists."""
    if config["dataset"]["kind"] == "synthetic":
        return [data_root()]
    return [f"{data_root()}/{path}" for path in config["dataset"]["splits"].values()]


def section(experiment, name):
    """One config section with the experiment's overrides applied."""
    merged = copy.deepcopy(config[name])
    merged.update(config["experiments"][experiment].get(name, {}))
    return merged


def code(*modules):
    """Library modules a stage runs, declared as inputs so that changing a formula reruns its stage."""
    return [f"{workflow.basedir}/wsss/{module}" for module in modules]


def segmentation_masks(wildcards):
    """Training masks: the experiment's pseudo masks, or (upper bound) the dataset's own."""
    if wildcards.supervision == "gt":
        return []
    return [results(f"{wildcards.dataset}/{wildcards.experiment}/pseudo_masks/{TRAIN_SPLIT}")]


def segmenter_init(wildcards):
    """The classifier whose backbone initialises the segmenter, when configured."""
    if section(wildcards.experiment, "segmentation")["init_from_classifier"]:
        return [results(f"{wildcards.dataset}/{wildcards.experiment}/classifier/model.pt")]
    return []


def print_results_location():
    for experiment in EXPERIMENTS:
        print(f"results: {results(f'{DATASET}/{experiment}/summary.tsv')}")

# WSSS pipeline: image-level labels -> CAMs -> (refinement) -> pixel masks, one rule per stage.
# `snakemake --cores 8` runs the embedded default (config.yaml); see README.md for other datasets.
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.0")
sys.path.insert(0, workflow.basedir)  # the library, also when Snakemake runs outside its venv
from wsss.config import config_errors, load_schema


# The embedded default is always the base layer (also under --directory); --configfile files override it.
configfile: f"{workflow.basedir}/config.yaml"


# one line per problem naming the key; then Snakemake's validation fills in the schema's defaults
SCHEMA = load_schema(f"{workflow.basedir}/config.schema.yaml")
CONFIG_ERRORS = config_errors(config, SCHEMA)
if CONFIG_ERRORS:
    raise WorkflowError("invalid config:\n" + "\n".join(CONFIG_ERRORS))
validate(config, "config.schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/coco.smk"
include: "rules/prepare.smk"
include: "rules/classifier.smk"
include: "rules/cams.smk"
include: "rules/affinity.smk"
include: "rules/random_walk.smk"
include: "rules/segmentation.smk"
include: "rules/summary.smk"
include: "rules/localization.smk"
include: "rules/tables.smk"
include: "rules/report.smk"
include: "rules/shards.smk"


rule all:
    """Every run experiment's summary and figures, and their comparison; for wsolevaluation data (no
    class masks), the localization table instead."""
    default_target: True
    input:
        REPORT_INPUTS,


onsuccess:
    print_results_location()

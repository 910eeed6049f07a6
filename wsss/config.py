"""Config checking against config.schema.yaml with one line per problem, each naming the config key.

Snakemake's own validation reports a failure with the whole schema attached; the pipeline runs this
check first so that a typo reads `config key classifier.epochs: -1 is less than the minimum of 1`.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from jsonschema.validators import validator_for


def load_schema(path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def config_errors(config: dict, schema: dict, prefix: str = "") -> list[str]:
    """One line per schema violation of config: 'config key <dotted.path>: <what is wrong>'.

    prefix is put before the key path (e.g. 'experiments.puzzle: ' for a merged experiment config).
    """
    validator = validator_for(schema)(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        lines.append(f"{prefix}config key {key}: {_message(error)}")
    return lines


#: Top-level keys that do not exist but are easily expected, and what to write instead.
REPLACED_KEYS = {"seed": "seeds, a list (seed: 3 is seeds: [3])"}


def _message(error) -> str:
    """The validator's message, without repeating a long instance (lists and dicts are elided)."""
    if error.validator == "additionalProperties":
        message = error.message.replace("Additional properties are not allowed", "unknown key(s)")
        if not error.absolute_path and isinstance(error.instance, dict):
            message += "".join(f"; {key} is now {REPLACED_KEYS[key]}" for key in REPLACED_KEYS if key in error.instance)
        return message
    if error.validator == "enum":
        return f"{error.instance!r} is not one of {error.validator_value}"
    if isinstance(error.instance, (dict, list)) and len(repr(error.instance)) > 80:
        return error.message.replace(repr(error.instance), "the given value")
    return error.message

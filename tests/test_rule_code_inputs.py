"""Every rule declares, as `code=` inputs, the library modules that compute its outputs, so that a change
of a formula reruns exactly the stages that use it (Snakemake sees library files only through inputs)."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# packages whose modules compute results; runtime, logging, label lists and file I/O (wsss.io) do not
COMPUTING = ("stages", "training", "methods", "models", "refine", "metrics", "tables", "figures", "data.synthetic",
             "data.sbd")
NOT_COMPUTING = ("models.loading",)


def rule_blocks():
    """(rule name, block text) of every `rule` and `use rule` in the workflow, indentation-delimited."""
    for smk in sorted((REPO / "rules").glob("*.smk")):
        lines = smk.read_text().splitlines()
        for i, line in enumerate(lines):
            match = re.match(r"(\s*)(?:rule (\w+)|use rule \w+ as (\w+) with):", line)
            if not match:
                continue
            indent, block = len(match.group(1)), []
            for following in lines[i + 1:]:
                if following.strip() and len(following) - len(following.lstrip()) <= indent:
                    break
                block.append(following)
            yield match.group(2) or match.group(3), "\n".join(block)


def declared_code(block):
    """The modules a rule's code=code(...) or code=method_code(...) lists (the methods it adds aside)."""
    calls = re.findall(r"code=(?:method_)?code\(([^)]*)\)", block, flags=re.S)
    return {f"wsss.{path[:-3].replace('/', '.')}" for call in calls for path in re.findall(r'"([^"]+\.py)"', call)}


def computing_imports(script):
    modules = set(re.findall(r"^from (wsss(?:\.\w+)+) import", script.read_text(), flags=re.M))
    return {m for m in modules if m[len("wsss."):].startswith(COMPUTING) and m[len("wsss."):] not in NOT_COMPUTING}


RULES = [(name, block) for name, block in rule_blocks() if "script:" in block]


def test_the_parser_sees_the_workflow():
    names = {name for name, _ in RULES}
    assert {"make_cams", "random_walk", "table_sweep", "merge_cams", "summarise_experiment"} <= names


@pytest.mark.parametrize("name,block", RULES, ids=[name for name, _ in RULES])
def test_rule_declares_the_modules_its_script_computes_with(name, block):
    script = re.search(r'script:\s*"\.\./(workflow_scripts/[\w.]+)"', block).group(1)
    missing = computing_imports(REPO / script) - declared_code(block)
    assert not missing, f"rule {name}: {script} imports {sorted(missing)}, which its code= input does not list"

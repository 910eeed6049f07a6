"""Layers only point down: a stage (wsss/stages/, one per rule) uses the library below it, never another stage.

What two stages share (mask making, the ground-truth mask of the protocol) lives in the library layer
(wsss/refine/, wsss/metrics/, ...), so a stage can change without changing another's results.
"""

import ast
from pathlib import Path

import pytest

STAGES = Path(__file__).resolve().parents[1] / "wsss" / "stages"
STAGE_NAMES = sorted(path.stem for path in STAGES.glob("*.py") if path.stem != "__init__")


def stage_imports(source: str) -> set[str]:
    """The modules of wsss.stages (other than the package itself) that a stage module's source imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            # resolve relative to wsss.stages.<module>: level 1 is wsss.stages, level 2 is wsss
            base = {0: "", 1: "wsss.stages", 2: "wsss"}.get(node.level, "")
            module = ".".join(part for part in (base, node.module or "") if part)
            names = [module] + [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[:2] == ["wsss", "stages"] and len(parts) > 2 and parts[2] in STAGE_NAMES:
                found.add(parts[2])
    return found


def test_the_parser_finds_every_spelling_of_a_sibling_import():
    spellings = ["from .random_walk import write_mask", "from . import random_walk",
                 "from ..stages.random_walk import write_mask", "from ..stages import random_walk",
                 "from wsss.stages.random_walk import write_mask", "import wsss.stages.random_walk"]
    for line in spellings:
        assert stage_imports(line) == {"random_walk"}, line
    assert stage_imports("from ..refine.masks import write_mask\nfrom ..methods.cam import top_class") == set()
    assert {"make_cams", "make_cam_masks", "random_walk", "evaluate_masks"} <= set(STAGE_NAMES)


@pytest.mark.parametrize("name", STAGE_NAMES)
def test_no_stage_imports_another_stage(name):
    siblings = stage_imports((STAGES / f"{name}.py").read_text()) - {name}
    assert not siblings, f"wsss/stages/{name}.py imports the stage(s) {sorted(siblings)}: move the shared code below"

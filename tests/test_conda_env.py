"""envs/wsss.yaml works under `snakemake --sdm conda`: the scripts' libraries with requirements.txt's pins, no
snakemake (it runs outside the env), and no local install: a script job in another python imports this checkout's
wsss because every workflow script puts the repo root first on sys.path. Conda is not needed: the env is not built,
what Snakemake does around a script job is."""

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from test_rule_code_inputs import rule_blocks
from workflow_helpers import REPO, SNAKEMAKE

ENV_FILE = REPO / "envs" / "wsss.yaml"
SCRIPTS = sorted((REPO / "workflow_scripts").glob("*.py"))


def is_dev_tool(name: str) -> bool:
    """requirements.txt entries that no script imports: Snakemake and its plugins (outside the env), test and lint tools."""
    return name == "snakemake" or name.startswith("snakemake-") or name in {"pytest", "snakefmt"}


def pins(lines) -> dict[str, str]:
    """Canonical package name -> version specifier ('' when unpinned) of requirement lines."""
    requirements = [Requirement(line) for line in (line.split("#")[0].strip() for line in lines) if line]
    return {canonicalize_name(req.name): str(req.specifier) for req in requirements}


def env_spec() -> tuple[list[str], list[str]]:
    """(conda dependencies, pip entries) of envs/wsss.yaml."""
    env = yaml.safe_load(ENV_FILE.read_text())
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    pip = [entry for dep in env["dependencies"] if isinstance(dep, dict) for entry in dep.get("pip", [])]
    return conda, pip


def test_the_env_holds_no_snakemake_and_no_local_install():
    conda, pip = env_spec()
    conda_names = [re.split(r"[=<>!\s]", dep, maxsplit=1)[0] for dep in conda]
    assert not [name for name in conda_names if name.startswith("snakemake")]
    assert not [name for name in pins(pip) if name.startswith("snakemake")]
    # Snakemake builds the env from a copy under .snakemake/conda/: a path there does not name this repo
    local = [entry for entry in pip if entry.startswith(("-e", ".", "/", "file:", "git+")) or "/" in entry]
    assert not local, f"{ENV_FILE.name}: local pip entries {local}; the scripts find wsss through sys.path"


def test_the_env_pins_what_the_scripts_import_as_requirements_txt():
    _, pip = env_spec()
    env = pins(pip)
    required = pins((REPO / "requirements.txt").read_text().splitlines())
    runtime = {name: spec for name, spec in required.items() if not is_dev_tool(name)}
    assert env == runtime, f"{ENV_FILE.name} and requirements.txt (less snakemake, plugins, test/lint tools) differ"
    # and they are the library's own dependencies (pyproject.toml, as ranges) less snakemake
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert set(pins(project)) - {"snakemake"} == set(runtime)


def test_every_script_rule_runs_in_the_env():
    rules = [(name, block) for name, block in rule_blocks() if "script:" in block]
    assert len(rules) > 20
    for name, block in rules:
        envs = re.findall(r'conda:\s*"([^"]+)"', block)
        assert envs == ["../envs/wsss.yaml"], f"rule {name}: conda: {envs}"
        assert (REPO / "rules" / envs[0]).resolve() == ENV_FILE


def bootstrap(script: Path) -> str:
    """What a workflow script runs before it imports wsss, less its third-party imports (the env provides those)."""
    source = script.read_text()
    kept = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [node.module] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
            tops = {module.split(".")[0] for module in modules}
            if "wsss" in tops:
                return "\n".join(kept)
            if not tops <= sys.stdlib_module_names:
                continue
        if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):  # the docstring
            kept.append(ast.get_source_segment(source, node))
    raise AssertionError(f"{script.name} imports no wsss")


def run_as_script_job(script: Path, body: str, workdir: Path) -> subprocess.CompletedProcess:
    """body run the way Snakemake 9 runs a script job in a conda env's python: from a copy under the working
    directory's .snakemake/scripts/ whose preamble sets __file__ to the original script (snakemake/script/),
    without PYTHONPATH (snakemake/shell.py drops it for conda jobs), by an interpreter that has no wsss
    installed (-S: no site-packages; -I: no user site, and sys.path[0] is the copy's folder)."""
    copy = workdir / ".snakemake" / "scripts" / f"tmp0a1b2c3d.{script.name}"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(f"__real_file__ = __file__; __file__ = {str(script.resolve())!r};\n{body}\n")
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-I", "-S", str(copy)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_a_script_job_in_another_python_imports_this_checkouts_wsss(script, tmp_path):
    job = run_as_script_job(script, bootstrap(script) + "\nimport wsss\nprint(wsss.__file__)", tmp_path)
    assert job.returncode == 0, job.stderr
    assert Path(job.stdout.strip()) == REPO / "wsss" / "__init__.py"


def test_without_the_bootstrap_that_python_finds_no_wsss(tmp_path):
    job = run_as_script_job(SCRIPTS[0], "import wsss", tmp_path)
    assert job.returncode != 0 and "No module named 'wsss'" in job.stderr


def test_snakemake_gives_a_script_its_own_path_so_the_wsss_beside_it_wins(tmp_path):
    """A real Snakemake job runs the bootstrap of make_labels.py in a copy of the repo layout and imports the wsss
    beside it, not one installed in the job's python (here one on PYTHONPATH, which comes before site-packages and
    before the folders Snakemake's preamble appends)."""
    checkout, installed, workdir = tmp_path / "checkout", tmp_path / "installed", tmp_path / "work"
    for root in (checkout, installed):
        (root / "wsss").mkdir(parents=True)
        (root / "wsss" / "__init__.py").write_text("")
    (checkout / "workflow_scripts").mkdir()
    (checkout / "workflow_scripts" / "probe.py").write_text(
        bootstrap(REPO / "workflow_scripts" / "make_labels.py")
        + "\nimport wsss\nPath(snakemake.output[0]).write_text(wsss.__file__)\n")
    (checkout / "Snakefile").write_text('rule probe:\n    output:\n        "probe.txt",\n'
                                        '    script:\n        "workflow_scripts/probe.py"\n')
    workdir.mkdir()
    run = subprocess.run([str(SNAKEMAKE), "-s", str(checkout / "Snakefile"), "--directory", str(workdir),
                          "--cores", "1"], cwd=workdir, env={**os.environ, "PYTHONPATH": str(installed)},
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert Path((workdir / "probe.txt").read_text()) == checkout / "wsss" / "__init__.py"

"""Child process of the kill tests: run one rule's script and SIGKILL this process from inside the work.

    python tests/kill_child.py spec.json

spec: {"script": workflow script name, "fields": fake_snakemake fields, "kill": "module:function",
"after": n, "factory": bool, "fit": {...}}. The n+1-th call of the function (with factory: of the
function it returns, e.g. a loss function built by classifier_loss) kills the process with SIGKILL
before doing its work, as the OOM killer or `kill -9` would: no exception handler, no `finally`,
no file closed. "fit" fixes keyword arguments of wsss.training.loop.fit (e.g. checkpoint_every).
"""

import functools
import importlib
import json
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from script_runner import run_script  # noqa: E402


def killing(function, after: int):
    calls = {"n": 0}

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > after:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)

    return wrapper


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    module_name, name = spec["kill"].split(":")
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    if spec["factory"]:
        setattr(module, name, functools.wraps(original)(lambda *a, **k: killing(original(*a, **k), spec["after"])))
    else:
        setattr(module, name, killing(original, spec["after"]))
    if spec["fit"]:
        loop = importlib.import_module("wsss.training.loop")
        loop.fit = functools.partial(loop.fit, **spec["fit"])
    run_script(spec["script"], spec["fields"])


if __name__ == "__main__":
    main(sys.argv[1])

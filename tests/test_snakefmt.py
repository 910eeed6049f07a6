"""The Snakefile and rules/ are as snakefmt (pinned in requirements.txt, configured in pyproject.toml) writes them;
`make format` rewrites them, `make lint` checks them."""

import re
import subprocess
import sys

from workflow_helpers import REPO


def test_the_workflow_is_formatted():
    result = subprocess.run([sys.executable, "-m", "snakefmt", "--config", str(REPO / "pyproject.toml"), "--check",
                             "--diff", "Snakefile", "rules/"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, (
        "snakefmt would change these files (`make format` rewrites them):\n"
        f"{result.stdout[-8000:]}\n{result.stderr[-2000:]}")
    checked = re.search(r"All (\d+) file\(s\) would be left unchanged", result.stderr)
    assert checked and int(checked.group(1)) == 1 + len(list((REPO / "rules").glob("*.smk"))), result.stderr

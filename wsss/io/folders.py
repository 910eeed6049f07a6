"""Folder outputs written under '<folder>.partial' and renamed when complete.

Snakemake deletes a rule's declared outputs before rerunning it, so per-image work in progress
lives in the undeclared '.partial' sibling: a killed job resumes from the files already there,
and the declared folder only ever appears complete.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def partial_folder(folder) -> Path:
    """The work-in-progress sibling of a folder output (created if missing)."""
    partial = Path(str(folder).rstrip("/") + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    return partial


def finish_folder(folder) -> None:
    """Atomically publish '<folder>.partial' as '<folder>'."""
    folder = Path(folder)
    partial = Path(str(folder).rstrip("/") + ".partial")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(partial, folder)

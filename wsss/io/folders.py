"""Folder outputs written under '<folder>.partial' and renamed when complete.

Snakemake deletes a rule's declared outputs before rerunning it, so per-image work in progress
lives in the undeclared '.partial' sibling: a killed job resumes from the files already there,
and the declared folder only ever appears complete. The partial folder carries the provenance
record of the work (provenance.json: config values, input checksums, code version); a partial
made with other config values or inputs is emptied, never resumed, and the record is published
with the folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..runtime import read_provenance, same_work, write_provenance


def partial_path(folder) -> Path:
    """The work-in-progress sibling '<folder>.partial' of a folder output."""
    return Path(str(folder).rstrip("/") + ".partial")


def partial_folder(folder, record: dict | None = None) -> Path:
    """The work-in-progress sibling of a folder output, created if missing.

    With a provenance record, a partial folder stamped with another record (other config values or
    input checksums) or with none is emptied first, and the record is written into it.
    """
    partial = partial_path(folder)
    if record is not None and partial.exists() and not same_work(read_provenance(partial), record):
        shutil.rmtree(partial)  # stale: made for other params or inputs, its files must not be reused
    partial.mkdir(parents=True, exist_ok=True)
    if record is not None:
        write_provenance(partial, record)
    return partial


def finish_folder(folder) -> None:
    """Atomically publish '<folder>.partial' as '<folder>', without leftover '*.tmp' files of a killed write."""
    folder = Path(folder)
    partial = partial_path(folder)
    for leftover in partial.glob("*.tmp"):
        leftover.unlink()
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(partial, folder)

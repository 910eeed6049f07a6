"""Sharding a split's per-image work over several jobs, and merging the shards' outputs back into
the one HDF5 cache or PNG folder the later stages read.

A shard is a contiguous, near-equal slice of the split's rows (shard k of K), so shard outputs are
disjoint and their union is the split. Merging checks exactly that and refuses anything else with an
error naming the shard file. make_cams slices its list of batches instead of the rows
(wsss.stages.make_cams), so that each image is computed in the batch the unsharded job computes it in.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..errors import CacheError
from .checkpoint import record_large_sha256
from .folders import finish_folder, partial_folder, partial_path
from .h5cache import open_h5, same_attribute


def shard_bounds(n: int, shard: int, shards: int) -> tuple[int, int]:
    """[start, stop) of shard `shard` (0-based) of `shards` contiguous near-equal slices of n items."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not in 0..{shards - 1}")
    bounds = np.linspace(0, n, shards + 1).round().astype(int)
    return int(bounds[shard]), int(bounds[shard + 1])


def shard_rows(rows: pd.DataFrame, shard: int, shards: int) -> pd.DataFrame:
    """Rows of shard `shard` (0-based) of `shards` contiguous near-equal slices (a shard may be empty)."""
    start, stop = shard_bounds(len(rows), shard, shards)
    return rows.iloc[start:stop].reset_index(drop=True)


def job_shard(wildcards, shards: int) -> tuple[int, int]:
    """(shard, shards) of a job: (k, K) for a shard job (it has a {shard} wildcard), else (0, 1)."""
    shard = getattr(wildcards, "shard", None)
    return (0, 1) if shard is None else (int(shard), int(shards))


def job_rows(rows: pd.DataFrame, wildcards, shards: int) -> pd.DataFrame:
    """The rows a job works on: its slice when it is a shard job (it has a {shard} wildcard), else all."""
    return shard_rows(rows, *job_shard(wildcards, shards))


def merge_h5(parts, path, *, summed_attrs=("n_empty_maps",)) -> int:
    """Copy every image group of the shard caches `parts` into one file at `path` (written as
    '<path>.partial', renamed when complete). File attributes come from the first part; every part
    must carry the same ones, except the counts in summed_attrs, which are added up. Returns the image count."""
    path = Path(path)
    partial = partial_path(path)
    seen: dict[str, Path] = {}
    reference = None
    try:
        with open_h5(partial, "w") as merged:
            for part in map(Path, parts):
                with open_h5(part, "r") as source:
                    attrs = {k: v for k, v in source.attrs.items() if k not in summed_attrs}
                    if reference is None:
                        reference = attrs
                        merged.attrs.update(attrs)
                    elif set(attrs) != set(reference) or any(not same_attribute(attrs[k], reference[k]) for k in attrs):
                        raise CacheError(f"{part}: its attributes differ from {parts[0]}'s: not shards of one job")
                    for key in summed_attrs:
                        if key in source.attrs:
                            merged.attrs[key] = int(merged.attrs.get(key, 0)) + int(source.attrs[key])
                    for name in source:
                        if name in seen:
                            raise CacheError(f"{part}: image group {name!r} is also in {seen[name]}")
                        seen[name] = part
                        source.copy(source[name], merged, name=name)
        os.replace(partial, path)
        record_large_sha256(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return len(seen)


def merge_folders(parts, folder, record: dict | None = None) -> int:
    """Move the files of the shard folders `parts` into `folder` (built as '<folder>.partial', published
    whole); a file name present in two shards is an error. Returns the number of files moved."""
    work = partial_folder(folder, record)
    seen: dict[str, Path] = {}
    for part in map(Path, parts):
        for file in sorted(part.iterdir()):
            if file.name == "provenance.json" or file.name.endswith(".tmp") or file.name.startswith("."):
                continue  # the shard's own record, a killed write, Snakemake's directory timestamp
            if file.name in seen:
                raise CacheError(f"{file}: also in shard {seen[file.name]}")
            seen[file.name] = part
            shutil.copy2(file, work / file.name)
    finish_folder(folder)
    return len(seen)

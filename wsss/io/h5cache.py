"""One HDF5 file of CAMs per split.

Schema (also in the README):
    file attributes   format='wsss-cams', schema_version, split, checkpoint_sha256,
                      config (JSON of the params that made it), wsss_version, git_describe
    /<image_id>/      group, one per image ('%' and '/' of an id written %25 and %2F), attributes:
        keys          int32 (K,)   class indices 1..C of the image's labels (mask values)
        height, width int          image size
      cam             float16 (K, h, w)  CAMs at the network's output stride, max-normalised
      high_res        float16 (K, H, W)  CAMs at image resolution, max-normalised
Datasets are chunked one class map per chunk and gzip-compressed with the shuffle filter.
The file is written under '<path>.partial' and renamed when complete, so a killed job never
leaves a file that looks finished; a rerun resumes from the partial file if its attributes match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import CacheError

FORMAT = "wsss-cams"
SCHEMA_VERSION = 1
COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)


def group_name(image_id: str) -> str:
    """The HDF5 group of an image id: wsolevaluation ids are paths, and '/' would nest groups."""
    return image_id.replace("%", "%25").replace("/", "%2F")


def image_id_of(name: str) -> str:
    """The image id of a group name (inverse of group_name)."""
    return name.replace("%2F", "/").replace("%25", "%")


def _dataset(group, name, array):
    array = np.asarray(array, dtype=np.float16)
    chunks = (1,) + array.shape[1:] if array.ndim == 3 and array.shape[0] > 0 else None
    group.create_dataset(name, data=array, chunks=chunks, **(COMPRESSION if chunks else {}))


class CamCacheWriter:
    """Resumable writer: `with CamCacheWriter(path, attrs) as w: w.add(...)`; renames on success."""

    def __init__(self, path, attrs: dict, file_format: str = FORMAT):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.attrs = {"format": file_format, "schema_version": SCHEMA_VERSION, **attrs}
        self.file = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists() and not self._partial_matches():
            self.partial.unlink()
        self.file = h5py.File(self.partial, "a")
        for key, value in self.attrs.items():
            self.file.attrs[key] = value
        return self

    def _partial_matches(self) -> bool:
        try:
            with h5py.File(self.partial, "r") as handle:
                return all(_same(handle.attrs.get(k), v) for k, v in self.attrs.items())
        except OSError:  # truncated by a kill: start over
            return False

    def done(self) -> set[str]:
        """Image ids already complete in the partial file (a kill mid-image leaves no 'complete' flag)."""
        return {image_id_of(name) for name, group in self.file.items() if group.attrs.get("complete", False)}

    def add(self, image_id: str, keys, size, **arrays) -> None:
        """Store one image's maps (e.g. cam=..., high_res=...) with its class keys and size."""
        name = group_name(image_id)
        if name in self.file:
            del self.file[name]
        group = self.file.create_group(name)
        group.attrs["keys"] = np.asarray(keys, dtype=np.int32)
        group.attrs["height"], group.attrs["width"] = int(size[0]), int(size[1])
        for name, array in arrays.items():
            _dataset(group, name, array)
        group.attrs["complete"] = True
        self.file.flush()

    def __exit__(self, exc_type, exc, tb):
        self.file.close()
        if exc_type is None:
            os.replace(self.partial, self.path)
        return False


def _same(stored, expected) -> bool:
    if stored is None:
        return False
    if isinstance(expected, (list, tuple, np.ndarray)):
        return np.array_equal(np.asarray(stored), np.asarray(expected))
    return stored == expected


class CamCache:
    """Read access to a finished CAM cache, checking its format and (optionally) its provenance."""

    def __init__(self, path, expect: dict | None = None, file_format: str = FORMAT):
        self.path = Path(path)
        if not self.path.is_file():
            raise CacheError(f"{self.path}: CAM cache does not exist")
        try:
            self.file = h5py.File(self.path, "r")
        except OSError as error:
            raise CacheError(f"{self.path}: not a readable HDF5 file ({error})") from error
        if self.file.attrs.get("format") != file_format:
            raise CacheError(f"{self.path}: not a {file_format} file (format attribute {self.file.attrs.get('format')!r})")
        for key, value in (expect or {}).items():
            if not _same(self.file.attrs.get(key), value):
                raise CacheError(
                    f"{self.path}: attribute {key}={self.file.attrs.get(key)!r} but this stage expects {value!r}; "
                    "the cache was made by a different config or checkpoint"
                )

    @property
    def attrs(self) -> dict:
        return dict(self.file.attrs)

    @property
    def config(self) -> dict:
        return json.loads(self.file.attrs["config"])

    def ids(self) -> list[str]:
        return [image_id_of(name) for name in self.file.keys()]

    def __contains__(self, image_id) -> bool:
        return group_name(image_id) in self.file

    def read(self, image_id: str) -> dict:
        """{'keys': (K,) int, 'size': (H, W), and each stored map as float32, e.g. 'cam', 'high_res'}."""
        if image_id not in self:
            raise CacheError(f"{self.path}: no entry for image {image_id!r}")
        group = self.file[group_name(image_id)]
        entry = {name: group[name][()].astype(np.float32) for name in group}
        entry["keys"] = np.asarray(group.attrs["keys"], dtype=np.int64)
        entry["size"] = (int(group.attrs["height"]), int(group.attrs["width"]))
        return entry

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

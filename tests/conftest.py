"""Shared fixtures: paths to the repo and the real VOC sample beside it."""

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VOC_MINI = REPO.parent / "shared" / "data" / "voc2012_mini"
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/workflow_helpers.py


@pytest.fixture
def voc_mini():
    if not (VOC_MINI / "JPEGImages").is_dir():
        pytest.skip(f"real VOC sample not found at {VOC_MINI}")
    return VOC_MINI

"""Which reader a dataset root needs: a VOC-layout folder, or a wsolevaluation layout (CUB, OpenImages).

The rules pass `root` as a path for VOC-layout data (real VOC or the generated synthetic set) and as
{'kind': 'wsol', 'data_root': ..., 'metadata_root': ..., 'name': ...} for wsolevaluation data; both
answer image(image_id) with the image's path.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DatasetError
from .voc import VOCLayout
from .wsol_layout import WSOLLayout


def is_wsol(root) -> bool:
    return isinstance(root, dict) and root.get("kind") == "wsol"


def open_layout(root, split: str = ""):
    """VOCLayout(root) for a path; WSOLLayout of the split's metadata folder for a wsol root dict."""
    if is_wsol(root):
        missing = [key for key in ("data_root", "metadata_root", "name") if not root.get(key)]
        if missing:
            raise DatasetError(f"wsol dataset root {root}: lacks {missing}")
        return WSOLLayout(root["metadata_root"], root["data_root"], root["name"], split)
    return VOCLayout(Path(root))

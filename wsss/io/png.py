"""Palette PNG masks (VOC colour map): label maps in, label maps out."""

from pathlib import Path

import numpy as np
from PIL import Image

from ..data.classes import voc_palette


def write_label_png(path, labels: np.ndarray) -> None:
    """Write a (H, W) uint8 label map as a VOC palette PNG, atomically (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.asarray(labels, dtype=np.uint8), mode="P")
    image.putpalette(voc_palette().reshape(-1).tolist())
    tmp = path.with_name(path.name + ".tmp")
    image.save(tmp, format="PNG")
    tmp.replace(path)


def read_label_png(path) -> np.ndarray:
    """Read a label PNG as (H, W) uint8 indices (palette indices for 'P' mode, values for 'L')."""
    with Image.open(path) as image:
        if image.mode not in ("P", "L"):
            raise ValueError(f"{path}: label PNG has mode {image.mode!r}, expected 'P' or 'L'")
        return np.array(image, dtype=np.uint8)

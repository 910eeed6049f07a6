"""The ground-truth mask an image is scored against under the evaluation protocol (config evaluation.masks),
shared by every stage that scores masks or class maps."""

from __future__ import annotations

from pathlib import Path

from ..data.voc import VOCLayout

#: Ground-truth mask folders of a VOC-layout root (config evaluation.masks); auto = VOCLayout.mask's choice.
MASK_SOURCES = ("auto", "SegmentationClass", "SegmentationClassAug")


def ground_truth_mask(layout: VOCLayout, image_id: str, masks: str = "auto") -> Path | None:
    """The image's ground-truth mask: auto = SegmentationClassAug/<id>.png, else SegmentationClass/<id>.png;
    or only the named folder's. None when it has none (the image is not scored)."""
    if masks not in MASK_SOURCES:
        raise ValueError(f"mask source {masks!r} is not one of {MASK_SOURCES}")
    if masks == "auto":
        return layout.mask(image_id)
    path = layout.root / masks / f"{image_id}.png"
    return path if path.exists() else None

"""Segment a folder of new images with a trained segmenter, or with a trained classifier's CAMs.

    python -m wsss.predict --model PATH --images DIR --out DIR [--device auto|cpu|cuda] [--threads N]
                           [--scales 1.0 ...] [--no-flip] [--crf] [--cam-threshold 0.15]

--model is train_segmenter's model.pt (masks: the argmax of its multi-scale, flipped class
probabilities, as the segment_images stage computes them) or train_classifier's model.pt (masks
from the CAMs alone, as make_cams + make_cam_masks compute them: multi-scale CAMs of the classes the
classifier predicts present, argmax against a constant background score of --cam-threshold).
Writes OUT/masks/<stem>.png (VOC palette PNG) and OUT/overlays/<stem>.png (the image blended with
the coloured mask) for every .jpg/.jpeg/.png in DIR; images whose two files exist are skipped.
Bad input (folder, images, model file) is one line on stderr and exit status 2, before any work.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from .data.transforms import to_tensor
from .data.voc import load_image
from .errors import WSSSError
from .figures import blend, label_colours
from .io.checkpoint import load
from .io.png import write_label_png
from .methods.cam import image_cams
from .models.loading import load_classifier, load_segmenter
from .refine.crf import crf_inference
from .refine.masks import scores_to_mask
from .runtime import resolve_device, set_threads
from .stages.evaluate_localization import class_scores
from .stages.make_cam_masks import cam_scores
from .stages.segment_images import segment_probabilities

#: The image files read from --images (suffixes compared in lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
#: Scales when --scales is not given: config.yaml's segmentation.scales and cams.scales.
DEFAULT_SCALES = {"segmenter": (1.0,), "classifier": (1.0, 0.5, 1.5, 2.0)}
#: Weight of the mask colours in an overlay.
OVERLAY_ALPHA = 0.5
#: Exit status for input that cannot be used (argparse's own usage errors exit 2 too).
BAD_INPUT = 2


class PredictInputError(WSSSError):
    """An image folder, image or model file that predict cannot use."""


def list_images(folder) -> list[Path]:
    """The .jpg/.jpeg/.png files directly inside folder, sorted by name; errors for no folder or no images."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PredictInputError(f"{folder}: image folder does not exist")
    images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise PredictInputError(f"{folder}: no .jpg, .jpeg or .png images in this folder")
    by_stem: dict[str, Path] = {}
    for path in images:
        if path.stem in by_stem:
            raise PredictInputError(f"{path}: has the same stem as {by_stem[path.stem].name}, "
                                    f"so both would write masks/{path.stem}.png")
        by_stem[path.stem] = path
    return images


def check_out_folder(out) -> None:
    """Refuse an output path that exists but is not a folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PredictInputError(f"{out}: output path exists and is not a folder")


def check_images(paths) -> None:
    """Decode every image fully once, so that a corrupt file fails before any is segmented."""
    for path in paths:
        load_image(path)  # DatasetError naming the file


def checkpoint_kind(checkpoint) -> str | None:
    """'classifier' or 'segmenter' from what train_classifier / train_segmenter save; None for anything else.

    Both save {'arch', 'state_dict', ...}: a classifier's arch has num_classes and its head is one
    1x1 conv ('head.weight'); a segmenter's head is the DeepLab ASPP ('head.0....'), its arch's
    num_classes (background included) absent from checkpoints that predate it (21 then); AffinityNet
    (the arch keys of such a segmenter) has no 'head.' parameters at all.
    """
    if not isinstance(checkpoint, Mapping):
        return None
    arch, state = checkpoint.get("arch"), checkpoint.get("state_dict")
    if not isinstance(arch, Mapping) or not isinstance(state, Mapping):
        return None
    if "num_classes" in arch and "head.weight" in state:
        return "classifier"
    if "head.weight" not in state and any(str(key).startswith("head.0.") for key in state):
        return "segmenter"
    return None


def is_multilabel(checkpoint) -> bool:
    """Whether a classifier checkpoint was trained multi-label (its provenance config; VOC's True if absent)."""
    try:
        config = json.loads(checkpoint.get("config", "{}"))
    except (TypeError, ValueError):
        return True
    return bool(config.get("multilabel", True)) if isinstance(config, dict) else True


def load_model(path, device):
    """(kind, model in eval mode on device, multilabel) of a segmenter or classifier model.pt."""
    path = Path(path)
    if not path.is_file():
        raise PredictInputError(f"{path}: model file does not exist")
    try:
        checkpoint = load(path)
    except Exception as error:  # not a torch file at all: pickle, zip, EOF errors of every kind
        raise PredictInputError(f"{path}: cannot be read as a checkpoint ({type(error).__name__})") from error
    kind = checkpoint_kind(checkpoint)
    if kind is None:
        raise PredictInputError(f"{path}: not a trained segmenter or classifier checkpoint "
                                "(expected the model.pt of train_segmenter or train_classifier)")
    loader = load_segmenter if kind == "segmenter" else load_classifier
    try:
        model = loader(path, device)
    except (KeyError, RuntimeError, TypeError, ValueError) as error:
        raise PredictInputError(f"{path}: {kind} checkpoint whose weights do not fit its arch "
                                f"{dict(checkpoint['arch'])} ({type(error).__name__})") from error
    return kind, model, kind == "classifier" and is_multilabel(checkpoint)


def present_classes(logits: np.ndarray, multilabel: bool) -> np.ndarray:
    """Class keys 1..K the classifier predicts present: logit > 0 (sigmoid > 0.5) per class, or the top-1."""
    logits = np.asarray(logits)
    if multilabel:
        return np.flatnonzero(logits > 0).astype(np.int64) + 1
    return np.array([int(np.argmax(logits)) + 1], dtype=np.int64)


def segmenter_mask(model, image: np.ndarray, *, scales, flip: bool, crf: dict | None, device) -> np.ndarray:
    """(H, W) uint8 labels: argmax of the segmenter's multi-scale probabilities (dCRF'd if crf is given)."""
    probs = segment_probabilities(model, image, scales=scales, flip=flip, device=device)  # (21, H, W)
    if crf is not None:
        probs = crf_inference(image, probs, **crf)
    return probs.argmax(0).astype(np.uint8)


def cam_mask(model, image: np.ndarray, *, scales, flip: bool, threshold: float, crf: dict | None, device,
             multilabel: bool) -> np.ndarray:
    """(H, W) uint8 labels: constant background vs the multi-scale CAMs of the classes predicted present."""
    keys = present_classes(class_scores(model, image, device), multilabel)
    if keys.size == 0:  # nothing predicted present: all background
        return np.zeros(image.shape[:2], dtype=np.uint8)
    x = to_tensor(image, model.backbone.mean, model.backbone.std)[None].to(device)
    ((_, high_res),) = image_cams(model, x, [keys], scales=scales, flip=flip, stride=model.backbone.output_stride)
    return scores_to_mask(image, cam_scores(high_res, threshold), keys, crf)


def overlay(image: np.ndarray, mask: np.ndarray, alpha: float = OVERLAY_ALPHA) -> np.ndarray:
    """(H, W, 3) uint8: the image blended with the mask in the VOC colours."""
    return blend(image, label_colours(mask), alpha)


def write_rgb_png(path, rgb: np.ndarray) -> None:
    """Write a (H, W, 3) uint8 array as an RGB PNG, atomically (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(tmp, format="PNG")
    tmp.replace(path)


def output_paths(out, image: Path) -> tuple[Path, Path]:
    """(mask, overlay) paths of one image: OUT/masks/<stem>.png and OUT/overlays/<stem>.png."""
    out = Path(out)
    return out / "masks" / f"{image.stem}.png", out / "overlays" / f"{image.stem}.png"


def pending_images(images, out) -> list[Path]:
    """The images that still lack their mask or their overlay."""
    return [image for image in images if not all(p.is_file() for p in output_paths(out, image))]


def predict_images(mask_fn, images, out, *, progress: bool = True) -> dict:
    """Write the mask and overlay of every pending image; mask_fn: (H, W, 3) uint8 -> (H, W) uint8 labels."""
    todo = pending_images(images, out)
    for path in tqdm(todo, desc="predict", unit="img", disable=not progress):
        image = load_image(path)
        mask = mask_fn(image)
        mask_path, overlay_path = output_paths(out, path)
        write_label_png(mask_path, mask)
        write_rgb_png(overlay_path, overlay(image, mask))
    return {"images": len(images), "segmented": len(todo), "skipped": len(images) - len(todo)}


def parse_args(argv=None) -> argparse.Namespace:
    """The command line of python -m wsss.predict."""
    parser = argparse.ArgumentParser(prog="python -m wsss.predict", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path,
                        help="train_segmenter's or train_classifier's model.pt")
    parser.add_argument("--images", required=True, type=Path, help="folder of .jpg/.jpeg/.png images (not recursive)")
    parser.add_argument("--out", required=True, type=Path, help="writes OUT/masks/<stem>.png and OUT/overlays/<stem>.png")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch CPU threads (default: all)")
    parser.add_argument("--scales", type=float, nargs="+", default=None,
                        help=f"test-time scales (default: {' '.join(map(str, DEFAULT_SCALES['segmenter']))} for a "
                             f"segmenter, {' '.join(map(str, DEFAULT_SCALES['classifier']))} for a classifier)")
    parser.add_argument("--no-flip", dest="flip", action="store_false", help="no horizontal-flip averaging")
    parser.add_argument("--crf", action="store_true", help="refine with the dense CRF (PSA's settings)")
    parser.add_argument("--cam-threshold", type=float, default=0.15,
                        help="classifier only: the constant background score against the max-normalised CAMs")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.scales is not None and min(args.scales) <= 0:
        parser.error("--scales must be positive")
    return args


def main(argv=None) -> int:
    """CLI: check the folder, the model and every image, then segment the images not done yet."""
    args = parse_args(argv)
    set_threads(args.threads)
    device = resolve_device(args.device)
    try:
        images = list_images(args.images)
        check_out_folder(args.out)
        kind, model, multilabel = load_model(args.model, device)
        check_images(pending_images(images, args.out))
    except WSSSError as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return BAD_INPUT
    scales = args.scales or DEFAULT_SCALES[kind]
    crf = {} if args.crf else None  # {}: crf_inference's defaults
    if kind == "segmenter":
        def mask_fn(image):
            return segmenter_mask(model, image, scales=scales, flip=args.flip, crf=crf, device=device)
    else:
        def mask_fn(image):
            return cam_mask(model, image, scales=scales, flip=args.flip, threshold=args.cam_threshold, crf=crf,
                            device=device, multilabel=multilabel)
    stats = predict_images(mask_fn, images, args.out)
    print(f"{kind} {args.model}: {stats['segmented']} images segmented, {stats['skipped']} already done; "
          f"masks in {args.out / 'masks'}, overlays in {args.out / 'overlays'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

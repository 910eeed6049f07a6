"""VOC 2012's SegmentationClassAug/ and train_aug list, built from the Semantic Boundaries Dataset (SBD).

The two downloads, unpacked:

    <voc_root> = VOCdevkit/VOC2012 of VOCtrainval_11-May-2012.tar
        JPEGImages/<id>.jpg, SegmentationClass/<id>.png, ImageSets/Segmentation/{train,val}.txt
    <sbd_root> = benchmark_RELEASE/dataset of SBD's benchmark.tgz (Hariharan et al., ICCV 2011)
        cls/<id>.mat (struct GTcls: Segmentation, Boundaries, CategoriesPresent), train.txt, val.txt

What is written into <voc_root>, as the SegmentationClassAug that DeepLab, PSA and IRN users download:

- ImageSets/Segmentation/train_aug.txt: (SBD train | SBD val | VOC train) - VOC val, each id once,
  sorted as Python sorts strings (VOC ids are <year>_<number>, so this is also chronological), one id
  per line. 10,582 ids on the real data.
- SegmentationClassAug/<id>.png for every train_aug id and every VOC val id (12,031 on the real data).
  An id of VOC's own Segmentation train or val list gets VOC's mask: the palette PNG's indices, values
  0..20 and 255 (void, along object borders and on unclear regions), pixel for pixel. Every other id
  gets SBD's GTcls.Segmentation, values 0..20: SBD's class masks mark no void, so these have no 255.
  VOC's mask wins also where SBD annotates the same image, so that the masks of VOC val (which the
  reader, wsss.data.voc, takes from SegmentationClassAug first) are the official ones.
- The PNGs are single-channel VOC-palette PNGs (mode 'P', palette index = class index); PIL's
  np.array(Image.open(path)) reads the class values. The folder also holds provenance.json.

Every check of the inputs that needs no mask decoded (the four lists, each listed id's JPEG and .mat or
VOC mask) runs before any file is written; a mask whose content is bad (a .mat without GTcls or
Segmentation, values outside 0..20, a size other than its JPEG's) stops the conversion at that file.
Masks are written under SegmentationClassAug.partial/ (wsss.io.folders), so a rerun after the fix
resumes from the masks already converted. Every problem is a DatasetError naming the file.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import scipy.io
from tqdm import tqdm

from ..errors import DatasetError
from ..io.folders import finish_folder, partial_folder
from ..io.png import write_label_png
from .classes import NUM_CLASSES
from .sbd_layout import AUG_DIR, TRAIN_AUG_LIST, list_files, sbd_dataset_root
from .voc import image_size, load_mask, read_split

def train_aug_ids(sbd_train, sbd_val, voc_train, voc_val) -> list[str]:
    """The train_aug ids: (SBD train | SBD val | VOC train) - VOC val, each once, sorted as strings."""
    return sorted((set(sbd_train) | set(sbd_val) | set(voc_train)) - set(voc_val))


def mask_sources(train_aug, voc_train, voc_val) -> dict[str, str]:
    """{id: 'voc' or 'sbd'} for every mask of SegmentationClassAug (the train_aug and the VOC val ids,
    in sorted order): 'voc' for the ids of VOC's Segmentation lists, which have official masks."""
    official = set(voc_train) | set(voc_val)
    return {image_id: "voc" if image_id in official else "sbd" for image_id in sorted(set(train_aug) | set(voc_val))}


def read_sbd_segmentation(path) -> np.ndarray:
    """The (H, W) uint8 class indices 0..20 of an SBD cls/<id>.mat: its GTcls.Segmentation, unchanged."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: SBD .mat file does not exist")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as error:  # scipy's reader fails in many ways (MatReadError, OSError, IndexError, ...)
        raise DatasetError(f"{path}: cannot read .mat file ({type(error).__name__}: {error})") from error
    if "GTcls" not in mat:
        names = sorted(key for key in mat if not key.startswith("__"))
        raise DatasetError(f"{path}: .mat file has no GTcls struct (variables: {names})")
    struct = mat["GTcls"]
    if "Segmentation" not in (struct.dtype.names or ()):
        raise DatasetError(f"{path}: GTcls has no Segmentation field (fields: {list(struct.dtype.names or ())})")
    if struct.size != 1:
        raise DatasetError(f"{path}: GTcls is a {struct.size}-element struct array, expected one struct")
    segmentation = np.asarray(struct.reshape(-1)[0]["Segmentation"])
    if segmentation.ndim != 2 or segmentation.size == 0:
        raise DatasetError(f"{path}: GTcls.Segmentation has shape {segmentation.shape}, expected (H, W)")
    if not np.issubdtype(segmentation.dtype, np.number) or np.iscomplexobj(segmentation):
        raise DatasetError(f"{path}: GTcls.Segmentation has dtype {segmentation.dtype}, expected class indices")
    bad = np.unique(segmentation[(segmentation < 0) | (segmentation > NUM_CLASSES) | (segmentation % 1 != 0)])
    if bad.size:
        raise DatasetError(f"{path}: GTcls.Segmentation has values {bad[:5].tolist()} outside 0..{NUM_CLASSES}")
    return segmentation.astype(np.uint8)


@dataclass(frozen=True)
class MaskJob:
    """One mask of SegmentationClassAug: its id, where it comes from ('sbd' .mat or 'voc' PNG) and its JPEG."""

    image_id: str
    source: str
    path: Path
    image: Path


@dataclass(frozen=True)
class AugPlan:
    """What prepare_voc_sbd writes: the train_aug ids and one MaskJob per mask, in id order."""

    train_aug: list[str]
    masks: list[MaskJob]


def plan_voc_sbd(voc_root, sbd_root) -> AugPlan:
    """Read the four lists and check that every listed id has its JPEG and its mask's source file.

    Nothing is decoded or written; a missing file is a DatasetError naming the first such file, the
    list that names its id, and how many more are missing.
    """
    voc_root = Path(voc_root)
    lists = list_files(voc_root, sbd_root)
    ids = {name: read_split(path) for name, path in lists.items()}
    train_aug = train_aug_ids(ids["sbd_train"], ids["sbd_val"], ids["voc_train"], ids["voc_val"])
    cls = sbd_dataset_root(sbd_root) / "cls"
    masks, missing = [], []
    for image_id, source in mask_sources(train_aug, ids["voc_train"], ids["voc_val"]).items():
        names = ("voc_train", "voc_val") if source == "voc" else ("sbd_train", "sbd_val")
        listed_in = next(lists[name] for name in names if image_id in ids[name])
        job = MaskJob(image_id, source, (voc_root / "SegmentationClass" / f"{image_id}.png") if source == "voc"
                      else cls / f"{image_id}.mat", voc_root / "JPEGImages" / f"{image_id}.jpg")
        what = "VOC mask" if source == "voc" else "SBD .mat file"
        missing += [f"{path}: {kind} of {image_id} (listed in {listed_in}) does not exist"
                    for path, kind in ((job.image, "image"), (job.path, what)) if not path.is_file()]
        masks.append(job)
    if missing:
        more = f" ({len(missing) - 1} more files missing)" if len(missing) > 1 else ""
        raise DatasetError(missing[0] + more)
    return AugPlan(train_aug, masks)


def mask_of(job: MaskJob) -> np.ndarray:
    """The (H, W) uint8 SegmentationClassAug mask of one job (the .mat's Segmentation or the VOC PNG's
    indices, unchanged), checked to have its JPEG's size."""
    height, width = image_size(job.image)
    mask = read_sbd_segmentation(job.path) if job.source == "sbd" else load_mask(job.path)
    if mask.shape != (height, width):
        raise DatasetError(f"{job.path}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from its "
                           f"image's {width}x{height} ({job.image})")
    return mask


def _write_mask(folder: Path, job: MaskJob) -> str:
    write_label_png(folder / f"{job.image_id}.png", mask_of(job))
    return job.image_id


def write_train_aug(path, ids) -> None:
    """Write a split list, one id per line, atomically (temp name, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{image_id}\n" for image_id in ids))
    os.replace(tmp, path)


def prepare_voc_sbd(voc_root, sbd_root, mask_dir=None, list_path=None, *, threads: int = 1,
                    provenance: dict | None = None, progress: bool = True) -> dict:
    """Write SegmentationClassAug/ and the train_aug list (by default into voc_root) from VOC and SBD.

    plan_voc_sbd's checks run first. The masks go to '<mask_dir>.partial' (resuming what a stopped run
    with the same provenance record left there; threads > 1 converts in that many processes), which
    then replaces mask_dir; the list is written last. Returns counts of what was written.
    """
    mask_dir = Path(mask_dir) if mask_dir is not None else Path(voc_root) / AUG_DIR
    list_path = Path(list_path) if list_path is not None else Path(voc_root) / TRAIN_AUG_LIST
    plan = plan_voc_sbd(voc_root, sbd_root)
    work = partial_folder(mask_dir, provenance)
    todo = [job for job in plan.masks if not (work / f"{job.image_id}.png").exists()]
    write = partial(_write_mask, work)
    bar = tqdm(total=len(plan.masks), initial=len(plan.masks) - len(todo), desc="SegmentationClassAug",
               unit="mask", disable=not progress, mininterval=5)
    with bar:
        if threads > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=threads) as pool:
                try:
                    for _ in pool.map(write, todo, chunksize=max(1, min(64, len(todo) // (4 * threads)))):
                        bar.update()
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # stop at the first bad file; written masks stay
                    raise
        else:
            for job in todo:
                write(job)
                bar.update()
    finish_folder(mask_dir)
    write_train_aug(list_path, plan.train_aug)
    from_voc = sum(job.source == "voc" for job in plan.masks)
    return {"train_aug": len(plan.train_aug), "masks": len(plan.masks), "from_voc": from_voc,
            "from_sbd": len(plan.masks) - from_voc, "resumed": len(plan.masks) - len(todo)}

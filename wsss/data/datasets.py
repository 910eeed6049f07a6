"""Torch datasets over the label table: classification crops and whole images for inference.

Augmentation randomness is a pure function of (seed, epoch, index), so an epoch replays exactly
after a resume and does not depend on the number of loader workers. Training crops leave the loader
as uint8 pixels with their valid mask and are normalised on the training device (on_device), which
gives the same bits as normalising them in the loader.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .labels import class_columns, class_keys, label_matrix
from .transforms import augment, crop_tensors, normalise
from .layouts import open_layout
from .voc import load_image, load_mask


class _Crops(Dataset):
    """Random rescale / flip / crop of the rows' images, seeded by (seed, epoch, index).

    cache_images keeps every decoded image (and label mask) in memory after its first read, so that
    later epochs skip the file reads and decodes; the crops are the same bits either way. For
    datasets that fit in RAM (the embedded default's 400 images are 20 MB, VOC train_aug ~6 GB).
    """

    def __init__(self, root, rows: pd.DataFrame, *, crop: int, scale_range, mean, std, seed: int = 0,
                 cache_images: bool = False):
        self.layout, self.rows = open_layout(root), rows.reset_index(drop=True)
        self.crop, self.scale_range, self.mean, self.std, self.seed = crop, tuple(scale_range), mean, std, seed
        self.epoch = 0
        self.cache = {} if cache_images else None

    def _decoded(self, key, read):
        """read() of an image or mask, from memory after the first time when caching."""
        if self.cache is None:
            return read()
        if key not in self.cache:
            self.cache[key] = read()
        return self.cache[key]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def on_device(self, batch):
        """A loaded batch (uint8 pixels, valid mask, target), already on the device -> [normalised images, target]."""
        pixels, valid, target = batch
        return [normalise(pixels, self.mean, self.std, valid), target]

    def __len__(self):
        return len(self.rows)

    def _rng(self, index) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])


class ClassificationCrops(_Crops):
    """(uint8 crop, valid mask, multi-hot labels) for training a classifier on image-level labels."""

    def __init__(self, root, rows: pd.DataFrame, **crop_kwargs):
        super().__init__(root, rows, **crop_kwargs)
        self.labels = label_matrix(self.rows)

    def __getitem__(self, index):
        image_id = self.rows.at[index, "image_id"]
        image = self._decoded(("image", image_id), lambda: load_image(self.layout.image(image_id)))
        image, _, valid = augment(image, self._rng(index), crop=self.crop, scale_range=self.scale_range)
        return (*crop_tensors(image, valid), torch.from_numpy(self.labels[index].copy()))


class SegmentationCrops(_Crops):
    """(uint8 crop, valid mask, label crop); labels come from PNG masks (pseudo, affinity or true) with
    values 0..num_classes (the object classes of the label table's rows) or 255."""

    def __init__(self, root, rows: pd.DataFrame, mask_path, **crop_kwargs):
        super().__init__(root, rows, **crop_kwargs)
        self.mask_path = mask_path  # callable: image_id -> path of its label PNG
        self.num_classes = len(class_columns(self.rows.columns))

    def __getitem__(self, index):
        image_id = self.rows.at[index, "image_id"]
        image = self._decoded(("image", image_id), lambda: load_image(self.layout.image(image_id)))
        mask = self._decoded(("mask", image_id),
                             lambda: load_mask(self.mask_path(image_id), expected_size=image.shape[:2],
                                               num_classes=self.num_classes))
        image, mask, valid = augment(image, self._rng(index), crop=self.crop, scale_range=self.scale_range, mask=mask)
        return (*crop_tensors(image, valid), torch.from_numpy(mask.astype(np.int64)))


class WholeImages(Dataset):
    """Whole images for inference: {'image_id', 'image' (H,W,3) uint8, 'keys' (K,) class indices}."""

    def __init__(self, root, rows: pd.DataFrame):
        self.layout, self.rows = open_layout(root), rows.reset_index(drop=True)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        row = self.rows.iloc[index]
        return {"image_id": row["image_id"], "image": load_image(self.layout.image(row["image_id"])),
                "keys": class_keys(row)}

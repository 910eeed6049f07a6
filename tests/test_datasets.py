"""Training crops: the in-memory image cache gives the same crops as reading the files every epoch."""

import shutil

import torch

from wsss.data.datasets import ClassificationCrops, SegmentationCrops
from wsss.data.labels import build_label_table, split_rows
from wsss.data.layouts import open_layout
from wsss.data.synthetic import generate_synthetic_voc

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def epochs_of(dataset, epochs=(0, 1)):
    out = []
    for epoch in epochs:
        dataset.set_epoch(epoch)
        out.append([dataset[i] for i in range(len(dataset))])
    return out


def test_cached_crops_equal_read_crops_and_later_epochs_read_no_file(tmp_path):
    root = tmp_path / "voc"
    generate_synthetic_voc(root, seed=1, n_train=6, n_val=2, image_size=48, progress=False)
    rows = split_rows(build_label_table(root, {"train": "ImageSets/Segmentation/train.txt"}, progress=False), "train")
    layout = open_layout(root)
    masks = tmp_path / "masks"
    shutil.copytree(root / "SegmentationClass", masks)
    kwargs = dict(crop=40, scale_range=(0.7, 1.3), mean=MEAN, std=STD, seed=5)
    for make in (lambda cache: ClassificationCrops(root, rows, cache_images=cache, **kwargs),
                 lambda cache: SegmentationCrops(root, rows, lambda i: masks / f"{i}.png", cache_images=cache,
                                                 **kwargs)):
        plain, cached = make(False), make(True)
        expected = epochs_of(plain)
        first = epochs_of(cached, epochs=(0,))
        hidden = tmp_path / "hidden"
        shutil.move(root / "JPEGImages", hidden / "JPEGImages")
        shutil.move(masks, hidden / "masks")
        try:
            later = epochs_of(cached, epochs=(1,))  # from memory: the files are gone
        finally:
            shutil.move(hidden / "JPEGImages", root / "JPEGImages")
            shutil.move(hidden / "masks", masks)
        for want, got in zip(expected, first + later):
            for a, b in zip(want, got):  # (uint8 pixels, valid mask, target)
                assert len(a) == len(b) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))


def test_normalising_on_the_device_gives_the_bits_of_float32_numpy_for_every_pixel_value():
    import numpy as np

    from wsss.data.transforms import crop_tensors, normalise, to_tensor

    image = np.stack([np.arange(256, dtype=np.uint8).reshape(16, 16)] * 3, axis=-1)  # every uint8 value per channel
    valid = np.ones((16, 16), dtype=bool)
    valid[:2] = False  # crop padding
    reference = (image.astype(np.float32) / np.float32(255.0) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    reference[~valid] = 0.0
    reference = torch.from_numpy(np.ascontiguousarray(reference.transpose(2, 0, 1)))
    pixels, mask = crop_tensors(image, valid)
    batch = torch.stack([pixels, pixels.flip(-1)]).contiguous(memory_format=torch.channels_last)
    masks = torch.stack([mask, mask.flip(-1)])
    out = normalise(batch, MEAN, STD, masks)  # the loader's uint8 batch, normalised where it trains
    assert out.dtype == torch.float32 and out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out[0], reference) and torch.equal(out[1], reference.flip(-1))
    assert torch.equal(to_tensor(image, MEAN, STD, valid), reference)  # inference's path: the same formula

"""Tests for the synthetic VOC-layout dataset generator."""

import hashlib
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from wsss.data.classes import IGNORE_INDEX, VOC_CLASSES
from wsss.data.synthetic import (
    BACKGROUND_TYPES,
    CLASS_CONTEXT,
    CLASS_PARTS,
    generate_image,
    generate_synthetic_voc,
)
from wsss.io.png import read_label_png

SMALL = dict(n_train=12, n_val=6, image_size=64, progress=False)


def _ids(root, name):
    return (root / "ImageSets" / "Segmentation" / f"{name}.txt").read_text().split()


def _parse_xml(path):
    tree = ET.parse(path).getroot()
    size = tree.find("size")
    objects = []
    for obj in tree.findall("object"):
        box = obj.find("bndbox")
        objects.append((obj.find("name").text,
                        tuple(int(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax"))))
    return tree, (int(size.find("width").text), int(size.find("height").text)), objects


def _hashes(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synvoc")
    summary = generate_synthetic_voc(root, seed=3, **SMALL)
    return root, summary


def test_class_tables_are_complete_and_unique():
    assert set(CLASS_PARTS) == set(VOC_CLASSES) == set(CLASS_CONTEXT)
    assert len(set(CLASS_PARTS.values())) == len(VOC_CLASSES)
    assert set(CLASS_CONTEXT.values()) == set(BACKGROUND_TYPES)


def test_layout(small_root):
    root, summary = small_root
    train, val, trainval = _ids(root, "train"), _ids(root, "val"), _ids(root, "trainval")
    assert len(train) == 12 and len(val) == 6
    assert trainval == train + val and not set(train) & set(val)
    assert train[0] == "train_00000" and val[0] == "val_00000"
    assert summary["train"] == 12 and summary["val"] == 6
    for image_id in trainval:
        with Image.open(root / "JPEGImages" / f"{image_id}.jpg") as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert image.size == (64, 64)
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        assert mask.shape == (64, 64)
        assert set(np.unique(mask)) <= set(range(21)) | {IGNORE_INDEX}
        tree, size, _ = _parse_xml(root / "Annotations" / f"{image_id}.xml")
        assert size == (64, 64)
        assert tree.find("filename").text == f"{image_id}.jpg"
        assert tree.find("folder").text == "VOC2012"
        assert tree.find("size/depth").text == "3"
        assert tree.find("segmented").text == "1"
    assert not list(root.rglob("*.tmp"))


def test_deterministic(small_root, tmp_path):
    root, _ = small_root
    again = tmp_path / "again"
    generate_synthetic_voc(again, seed=3, **SMALL)
    assert _hashes(root) == _hashes(again)

    other = tmp_path / "other"
    generate_synthetic_voc(other, seed=4, **SMALL)
    first, second = _hashes(root), _hashes(other)
    jpgs = [k for k in first if k.endswith(".jpg")]
    assert all(first[k] != second[k] for k in jpgs)


def test_image_independent_of_split_size():
    # Seeding per (seed, split, index): an image does not depend on how many others exist.
    a = generate_image(5, "val", 2, image_size=64)
    b = generate_image(5, "val", 2, image_size=64)
    c = generate_image(5, "train", 2, image_size=64)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.image, c.image)


def test_helper_matches_written_files(small_root):
    root, _ = small_root
    sample = generate_image(3, "val", 4, image_size=64)
    mask = read_label_png(root / "SegmentationClass" / "val_00004.png")
    assert np.array_equal(sample.labels, mask)
    _, _, objects = _parse_xml(root / "Annotations" / "val_00004.xml")
    assert [name for name, _ in objects] == [obj.class_name for obj in sample.objects]


def test_xml_objects_match_mask(small_root):
    root, _ = small_root
    for image_id in _ids(root, "trainval"):
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        _, (width, height), objects = _parse_xml(root / "Annotations" / f"{image_id}.xml")
        painted = {VOC_CLASSES[v - 1] for v in np.unique(mask) if 1 <= v <= 20}
        assert {name for name, _ in objects} == painted
        assert 1 <= len(objects) <= 3
        covered = np.zeros_like(mask, dtype=bool)
        for name, (xmin, ymin, xmax, ymax) in objects:
            assert 1 <= xmin <= xmax <= width and 1 <= ymin <= ymax <= height
            box = np.zeros_like(covered)
            box[ymin - 1:ymax, xmin - 1:xmax] = True
            label = VOC_CLASSES.index(name) + 1
            assert (mask[box] == label).any()
            covered |= box & (mask == label)
        # every labelled object pixel lies inside a box of its class
        assert covered.sum() == ((mask >= 1) & (mask <= 20)).sum()


def test_object_boxes_are_tight_on_visible_pixels():
    for index in range(10):
        sample = generate_image(0, "train", index, image_size=64)
        for obj in sample.objects:
            ys, xs = np.nonzero(obj.visible)
            assert obj.bbox == (xs.min() + 1, ys.min() + 1, xs.max() + 1, ys.max() + 1)
            assert ((sample.labels == obj.class_index) & obj.visible).any()


def test_object_counts_and_all_classes(tmp_path):
    summary = generate_synthetic_voc(tmp_path, seed=0, n_train=200, n_val=0,
                                     image_size=64, progress=False)
    assert all(count > 0 for count in summary["class_counts"].values()), summary["class_counts"]
    assert 1.0 <= summary["mean_objects"] <= 3.0
    for image_id in _ids(tmp_path, "train"):
        _, _, objects = _parse_xml(tmp_path / "Annotations" / f"{image_id}.xml")
        assert 1 <= len(objects) <= 3
    # several scenes have more than one object
    counts = [len(generate_image(0, "train", i, image_size=64).objects) for i in range(30)]
    assert max(counts) > 1


def test_max_objects_respected():
    for index in range(20):
        assert 1 <= len(generate_image(1, "train", index, image_size=64, max_objects=1).objects) == 1


def test_occlusion_happens():
    occluded = 0
    for index in range(60):
        for obj in generate_image(0, "train", index, image_size=64).objects:
            occluded += int(((obj.body | obj.part) & ~obj.visible).any())
    assert occluded > 0


def test_void_band(small_root):
    root, _ = small_root
    for image_id in _ids(root, "trainval"):
        mask = read_label_png(root / "SegmentationClass" / f"{image_id}.png")
        assert (mask == IGNORE_INDEX).any()
        obj = (mask >= 1) & (mask <= 20)
        bg = mask == 0
        assert not (bg[:, :-1] & obj[:, 1:]).any() and not (obj[:, :-1] & bg[:, 1:]).any()
        assert not (bg[:-1, :] & obj[1:, :]).any() and not (obj[:-1, :] & bg[1:, :]).any()
        # two different classes never touch directly either
        for a, b in ((mask[:, :-1], mask[:, 1:]), (mask[:-1, :], mask[1:, :])):
            touching = (a >= 1) & (a <= 20) & (b >= 1) & (b <= 20)
            assert (a[touching] == b[touching]).all()


def test_void_band_lies_on_boundaries():
    sample = generate_image(2, "train", 0, image_size=64, void_width=2)
    void = sample.labels == IGNORE_INDEX
    union = np.zeros_like(void)
    for obj in sample.objects:
        union |= obj.visible
    # every void pixel is within 1 px of a pixel of another region
    near_change = np.zeros_like(void)
    regions = np.zeros(void.shape, dtype=np.int32)
    for k, obj in enumerate(sample.objects, start=1):
        regions[obj.visible] = k
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        shifted = np.roll(regions, (dy, dx), axis=(0, 1))
        near_change |= shifted != regions
    assert void.any() and (void <= near_change).all()
    no_void = generate_image(2, "train", 0, image_size=64, void_width=0)
    assert not (no_void.labels == IGNORE_INDEX).any()


def test_discriminative_part_is_small():
    fractions = [obj.part_fraction
                 for index in range(40)
                 for obj in generate_image(0, "train", index, image_size=64).objects]
    assert len(fractions) > 40
    assert max(fractions) < 0.25
    assert 0.02 < float(np.median(fractions)) < 0.2
    fractions_128 = [obj.part_fraction
                     for index in range(20)
                     for obj in generate_image(0, "train", index, image_size=128).objects]
    assert max(fractions_128) < 0.25


def test_co_occurrence_with_full_context(tmp_path):
    for index in range(30):
        sample = generate_image(7, "train", index, image_size=64, context_prob=1.0)
        assert sample.background in {CLASS_CONTEXT[o.class_name] for o in sample.objects}
    summary = generate_synthetic_voc(tmp_path, seed=7, n_train=20, n_val=0, image_size=64,
                                     context_prob=1.0, progress=False)
    assert summary["context_rate"] == 1.0


def test_random_context_varies():
    backgrounds = {generate_image(7, "train", i, image_size=64, context_prob=0.0).background
                   for i in range(40)}
    assert backgrounds == set(BACKGROUND_TYPES)


@pytest.mark.parametrize("kwargs", [dict(image_size=16), dict(max_objects=0), dict(seed=-1),
                                    dict(context_prob=1.5), dict(void_width=-1)])
def test_rejects_bad_arguments(tmp_path, kwargs):
    args = dict(SMALL, **kwargs)
    with pytest.raises(ValueError):
        generate_synthetic_voc(tmp_path, **args)

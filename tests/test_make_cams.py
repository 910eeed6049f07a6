"""make_cams at real batch sizes: size-grouped batches, decoding workers and the background writer give
the cache that one image at a time gives (to float16's last step), shards and resumed runs compute the
one-job run's batches, and the resume and error behaviour holds."""

import threading

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import wsss.io.h5cache as h5cache
import wsss.stages.make_cams as make_cams
from wsss.data.classes import VOC_CLASSES
from wsss.data.transforms import to_tensor
from wsss.data.voc import load_image
from wsss.errors import CacheError, DatasetError
from wsss.methods.cam import image_cams
from wsss.models.classifier import build_classifier
from wsss.stages.make_cams import BackgroundWrites, size_grouped_batches, write_cam_cache

SCALES = [1.0, 0.5, 1.5]
SIZES = [(24, 32), (32, 24)]  # (H, W), alternating in the table so that no two neighbours stack


def test_batches_group_sizes_in_table_order_within_a_size():
    sizes = [(2, 3), (1, 1), (2, 3), (1, 1), (2, 3), (1, 1), (1, 1)]
    assert size_grouped_batches(sizes, 2) == [[1, 3], [5, 6], [0, 2], [4]]
    assert size_grouped_batches(sizes, 8) == [[1, 3, 5, 6], [0, 2, 4]]
    assert size_grouped_batches(sizes, 1) == [[1], [3], [5], [6], [0], [2], [4]]
    assert size_grouped_batches([], 4) == []


@pytest.fixture(scope="module")
def two_sizes(tmp_path_factory):
    """A VOC-layout folder of 8 noise JPEGs of two sizes, their label rows, and a seeded smallnet."""
    root = tmp_path_factory.mktemp("two_sizes")
    (root / "JPEGImages").mkdir()
    rng = np.random.default_rng(0)
    records = []
    for n in range(8):
        height, width = SIZES[n % 2]
        image_id = f"img_{n}"
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{image_id}.jpg", quality=90)
        classes = {VOC_CLASSES[n % 20], VOC_CLASSES[(3 * n + 5) % 20]}
        records.append({"split": "train", "image_id": image_id, "height": height, "width": width,
                        "label_source": "xml", "has_mask": False,
                        **{name: int(name in classes) for name in VOC_CLASSES}})
    torch.manual_seed(0)
    model = build_classifier("smallnet", pretrained=False, output_stride=8, num_classes=20).eval()
    return root, pd.DataFrame(records), model


def cache_contents(path) -> dict:
    with h5py.File(path, "r") as handle:
        return {f"{name}/{key}": dataset[()] for name, group in handle.items() for key, dataset in group.items()}


def write(two_sizes, path, **kwargs):
    root, rows, model = two_sizes
    options = dict(attrs={"split": "train"}, scales=SCALES, flip=True, batch_size=4, device="cpu", progress=False)
    return write_cam_cache(model, root, rows, path, **{**options, **kwargs})


def assert_within_one_float16_step(a, b, key):
    """Equal, or adjacent float16 values: a float32 map computed in another batch may round differently
    (a reordered sum moves it by a few float32 ulps, 2^-23 relative, far below float16's 2^-11 half
    step), so its stored float16 value is the same or the neighbouring one."""
    assert a.dtype == b.dtype == np.float16 and a.shape == b.shape, key
    wide_a, wide_b = a.astype(np.float32), b.astype(np.float32)
    step = np.spacing(np.maximum(np.abs(a), np.abs(b))).astype(np.float32)
    assert np.all(np.abs(wide_a - wide_b) <= step), key


@pytest.mark.parametrize("resize", ["bilinear", "irn"])  # irn rescales the uint8 originals
def test_a_cam_in_any_batch_is_the_one_image_forward_to_the_last_float16_step(two_sizes, tmp_path, resize):
    root, rows, model = two_sizes
    write(two_sizes, tmp_path / "b1.h5", batch_size=1, resize=resize)
    write(two_sizes, tmp_path / "b4.h5", batch_size=4, resize=resize)
    one, four = cache_contents(tmp_path / "b1.h5"), cache_contents(tmp_path / "b4.h5")
    assert sorted(one) == sorted(four) and len(one) == 2 * len(rows)
    for key in one:
        assert_within_one_float16_step(one[key], four[key], key)
    mean, std = model.backbone.mean, model.backbone.std
    for _, row in rows.iterrows():  # the reference: each image alone through image_cams, stored as float16
        image = load_image(root / "JPEGImages" / f"{row['image_id']}.jpg")
        keys = np.array([i + 1 for i, name in enumerate(VOC_CLASSES) if row[name]])
        cam, high_res = image_cams(model, to_tensor(image, mean, std)[None], [keys], scales=SCALES, flip=True,
                                   stride=model.backbone.output_stride, resize=resize, originals=[image])[0]
        assert np.array_equal(one[f"{row['image_id']}/cam"], cam.astype(np.float16))  # the same one-image batch
        assert np.array_equal(one[f"{row['image_id']}/high_res"], high_res.astype(np.float16))
        assert four[f"{row['image_id']}/high_res"].shape == (2, row["height"], row["width"])
    assert all(four[key].max() > 0.5 for key in four)  # real maps, max-normalised


def recorded_batches(monkeypatch) -> list:
    """The image ids of every batch that write_cam_cache computes from now on."""
    seen, stack = [], make_cams.stack_images

    def recording(items):
        seen.append([item["image_id"] for item in items])
        return stack(items)

    monkeypatch.setattr(make_cams, "stack_images", recording)
    return seen


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_compute_the_one_job_batches_and_merge_into_its_cache(two_sizes, tmp_path, monkeypatch, shards):
    seen = recorded_batches(monkeypatch)
    write(two_sizes, tmp_path / "whole.h5", batch_size=3)
    whole_batches, merged = list(seen), {}
    seen.clear()
    counts = []
    for k in range(shards):
        counts.append(write(two_sizes, tmp_path / f"{k}.h5", batch_size=3, shard=(k, shards))["images"])
        merged.update(cache_contents(tmp_path / f"{k}.h5"))
    assert seen == whole_batches  # shard k's batches are the k-th slice of the one job's batches
    assert sum(counts) == 8 and all(counts)
    whole = cache_contents(tmp_path / "whole.h5")
    assert sorted(whole) == sorted(merged)
    assert all(np.array_equal(whole[key], merged[key]) for key in whole)  # the same batches: the same bits


def test_a_resumed_run_recomputes_a_partly_written_batch_whole(two_sizes, tmp_path, monkeypatch):
    root, rows, model = two_sizes
    seen = recorded_batches(monkeypatch)
    write(two_sizes, tmp_path / "whole.h5", batch_size=3)
    whole_batches = list(seen)
    assert whole_batches == [["img_0", "img_2", "img_4"], ["img_6"], ["img_1", "img_3", "img_5"], ["img_7"]]
    write_cam_cache(model, root, rows.iloc[:3], tmp_path / "first.h5", attrs={"split": "train"}, scales=SCALES,
                    flip=True, batch_size=3, device="cpu", progress=False)
    (tmp_path / "first.h5").rename(tmp_path / "cams.h5.partial")  # as a kill after img_0..img_2 leaves it
    seen.clear()
    stats = write(two_sizes, tmp_path / "cams.h5", batch_size=3)
    assert stats["resumed"] == 3 and not stats["restarted"]
    assert seen == whole_batches  # each has an undone image: the first and third next to done ones
    whole, resumed = cache_contents(tmp_path / "whole.h5"), cache_contents(tmp_path / "cams.h5")
    assert sorted(whole) == sorted(resumed)
    for key in whole:  # img_0..img_2 were kept from the run in other batches; the rest is the same bits
        if key.split("/")[0] in {"img_0", "img_1", "img_2"}:
            assert_within_one_float16_step(whole[key], resumed[key], key)
        else:
            assert np.array_equal(whole[key], resumed[key]), key


def test_equal_sizes_fill_batches_although_the_table_alternates_sizes(two_sizes, tmp_path, monkeypatch):
    seen = []

    def recording(model, images, keys, **kwargs):
        seen.append(tuple(images.shape))
        return image_cams(model, images, keys, **kwargs)

    monkeypatch.setattr(make_cams, "image_cams", recording)
    write(two_sizes, tmp_path / "cams.h5", batch_size=3)
    assert seen == [(3, 3, 24, 32), (1, 3, 24, 32), (3, 3, 32, 24), (1, 3, 32, 24)]


def test_decoding_workers_give_the_same_cache(two_sizes, tmp_path):
    write(two_sizes, tmp_path / "w0.h5", num_workers=0)
    write(two_sizes, tmp_path / "w2.h5", num_workers=2)
    zero, two = cache_contents(tmp_path / "w0.h5"), cache_contents(tmp_path / "w2.h5")
    assert sorted(zero) == sorted(two) and zero
    assert all(np.array_equal(zero[key], two[key]) for key in zero)


def test_a_killed_run_keeps_the_written_batches_and_the_rerun_finishes_the_same_cache(two_sizes, tmp_path,
                                                                                      monkeypatch):
    write(two_sizes, tmp_path / "whole.h5", batch_size=2)
    calls = []

    def killed_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return image_cams(*args, **kwargs)

    monkeypatch.setattr(make_cams, "image_cams", killed_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        write(two_sizes, tmp_path / "cams.h5", batch_size=2)
    assert not (tmp_path / "cams.h5").exists() and (tmp_path / "cams.h5.partial").exists()
    monkeypatch.setattr(make_cams, "image_cams", image_cams)
    stats = write(two_sizes, tmp_path / "cams.h5", batch_size=2)
    assert stats["resumed"] == 2 and not stats["restarted"]  # the first batch was written before the kill
    whole, resumed = cache_contents(tmp_path / "whole.h5"), cache_contents(tmp_path / "cams.h5")
    assert sorted(whole) == sorted(resumed)
    assert all(np.array_equal(whole[key], resumed[key]) for key in whole)


def test_a_write_error_in_the_writer_thread_is_raised_by_write_cam_cache(two_sizes, tmp_path, monkeypatch):
    real, threads = h5cache._dataset, set()

    def failing(group, name, array):
        threads.add(threading.current_thread())
        if group.name.endswith("img_4"):
            raise OSError("disk full")
        real(group, name, array)

    monkeypatch.setattr(h5cache, "_dataset", failing)
    with pytest.raises(CacheError, match="cannot write image 'img_4'.*disk full"):
        write(two_sizes, tmp_path / "cams.h5", batch_size=2)
    assert threading.main_thread() not in threads  # it did fail off the main thread
    assert not (tmp_path / "cams.h5").exists() and not (tmp_path / "cams.h5.partial").exists()


def test_background_writes_stop_at_the_first_error_and_raise_it_in_the_caller():
    written = []

    def write_batch(batch):
        if batch == 3:
            raise ValueError("batch 3 is bad")
        written.append(batch)

    with pytest.raises(ValueError, match="batch 3 is bad"):
        with BackgroundWrites(write_batch, depth=2) as writes:
            for batch in range(20):  # more than the queue holds: submit must not block after the error
                writes.submit(batch)
    assert written == [0, 1, 2]


def test_an_image_of_another_size_than_the_label_table_says_is_named(two_sizes, tmp_path):
    root, rows, model = two_sizes
    rows = rows.copy()
    rows.loc[5, "height"] = 40
    with pytest.raises(DatasetError, match=r"img_5\.jpg: image is 24x32 \(WxH\) but the label table says 24x40"):
        write_cam_cache(model, root, rows, tmp_path / "cams.h5", attrs={}, scales=SCALES, flip=True,
                        batch_size=2, device="cpu", progress=False)

from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss.methods.cam import (background_score, bicubic_rescale, cams_to_labels, image_cams, max_normalise,
                              resize_maps, scaled_inputs, scaled_size, strided_size)


def test_max_normalise_relu_and_zero_map():
    cams = torch.tensor([[[-1.0, 2.0], [4.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]])
    out = max_normalise(cams)
    torch.testing.assert_close(out[0], torch.tensor([[0.0, 0.5], [1.0, 0.25]]), atol=1e-4, rtol=0)
    assert torch.all(out[1] == 0)  # an all-zero map stays zero, no NaN


def test_background_score_formula():
    cams = np.array([[[0.0, 0.5]], [[0.2, 1.0]]], dtype=np.float32)  # (K=2, 1, 2)
    np.testing.assert_allclose(background_score(cams, 2), [[(1 - 0.2) ** 2, 0.0]])
    assert np.all(background_score(np.zeros((0, 3, 3)), 4) == 1)


def test_cams_to_labels_uses_keys_and_threshold():
    cams = np.array([[[0.9, 0.1, 0.3]], [[0.2, 0.05, 0.6]]], dtype=np.float32)
    labels = cams_to_labels(cams, np.array([3, 15]), threshold=0.25)
    np.testing.assert_array_equal(labels, [[3, 0, 15]])


def test_strided_size_rounds_up():
    assert strided_size((375, 500), 16) == (24, 32)
    assert strided_size((128, 128), 8) == (16, 16)


def test_part_body_coverage_counts_pixels_at_or_above_the_threshold():
    from wsss.metrics.part_coverage import part_body_coverage

    cam = np.array([[1.0, 0.5], [0.29, 0.3]])
    part = np.array([[True, False], [False, False]])
    body = np.array([[False, True], [True, True]])
    assert part_body_coverage(cam, part, body, 0.3) == (1, 1, 2, 3)


def test_resize_maps_stretches_or_goes_to_the_next_multiple_and_crops():
    maps = torch.tensor([[[[0.0, 1.0]]]])  # (1, 1, 1, 2): a ramp across the width
    # stretched to 7 columns: source x = (x + 0.5) 2 / 7 - 0.5, clamped to [0, 1]
    stretched = resize_maps(maps, (1, 7))[0, 0, 0]
    torch.testing.assert_close(stretched, torch.tensor([0, 0, 1.5 / 7, 0.5, 5.5 / 7, 1, 1]), atol=1e-6, rtol=0)
    # IRN: to 8 columns (ceil(7 / 4) * 4), source x = (x + 0.5) / 4 - 0.5, then the first 7 kept
    cropped = resize_maps(maps, (1, 7), up_stride=4)[0, 0, 0]
    torch.testing.assert_close(cropped, torch.tensor([0, 0, 0.125, 0.375, 0.625, 0.875, 1]), atol=1e-6, rtol=0)


def test_scaled_sizes_round_half_to_even_and_bicubic_rescale():
    assert scaled_size((11, 14), 0.5) == (6, 7) and scaled_size((11, 14), 1.5) == (16, 21)
    image = np.arange(11 * 14 * 3, dtype=np.uint8).reshape(11, 14, 3)
    assert bicubic_rescale(image, 1.0) is image
    small = bicubic_rescale(image, 0.5)
    assert small.shape == (6, 7, 3) and small.dtype == np.uint8


def test_scaled_inputs_refuse_unknown_resizes_and_bicubic_without_the_uint8_images():
    images = torch.zeros(1, 3, 4, 4)
    with pytest.raises(ValueError, match="'nearest'"):
        scaled_inputs(images, [1.0], "nearest")
    with pytest.raises(ValueError, match="originals"):
        scaled_inputs(images, [1.0], "irn")


class PointwiseHead:
    """class_maps = a fixed 1x1 conv of the input (stride 1, some classes negative somewhere)."""

    backbone = SimpleNamespace(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), output_stride=1)
    weight = torch.tensor([[1.0, -2.0, 0.5], [-1.0, 0.0, 1.0], [0.25, 0.25, -1.0], [2.0, 1.0, 0.0],
                           [-0.5, 1.5, -1.0]])[..., None, None]

    def class_maps(self, x):
        return F.conv2d(x, self.weight)


@pytest.mark.parametrize("resize", ["bilinear", "psa", "irn"])
def test_keep_raw_returns_the_sum_before_relu_and_normalisation_in_key_order(resize):
    model = PointwiseHead()
    image = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    x = ((torch.from_numpy(image).float() / 255 - 0.5) / 0.25).permute(2, 0, 1)[None]
    keys = [5, 2]  # unsorted: the maps follow the keys
    ((cam, high_res, raw),) = image_cams(model, x, [keys], scales=[1.0], flip=True, stride=1, resize=resize,
                                         originals=[image], keep_raw=True)
    # one scale, a pointwise head: the flipped image's flipped-back maps equal the image's, so the
    # sum is 2 W x; bilinear and psa keep it at the image size, irn resizes it to 16 x 16 and crops
    maps = 2 * model.class_maps(x)[:, [k - 1 for k in keys]]
    if resize == "irn":
        maps = resize_maps(maps, (4, 5), up_stride=16)
    expected = maps[0].numpy()
    assert raw.shape == (2, 4, 5) and raw.dtype == np.float32 and raw.min() < 0
    np.testing.assert_allclose(raw, expected, rtol=1e-6, atol=1e-6)
    if resize != "irn":  # at the network's resolution ReLU commutes with the (identity) resize
        relu = np.maximum(expected, 0)
        np.testing.assert_allclose(high_res, relu / (relu.max(axis=(1, 2), keepdims=True) + 1e-5), rtol=1e-6,
                                   atol=1e-6)
    ((cam_only, high_only),) = image_cams(model, x, [keys], scales=[1.0], flip=True, stride=1, resize=resize,
                                          originals=[image])
    np.testing.assert_array_equal(high_only, high_res)
    np.testing.assert_array_equal(cam_only, cam)


@pytest.mark.parametrize("resize", ["bilinear", "irn"])
def test_only_the_labelled_maps_are_resized_and_they_equal_the_maps_of_all_classes(resize):
    from wsss.methods.cam import summed_class_maps

    model = PointwiseHead()
    originals = list(np.random.default_rng(1).integers(0, 256, (3, 9, 11, 3), dtype=np.uint8))
    images = torch.stack([(torch.from_numpy(o).float() / 255 - 0.5) / 0.25 for o in originals]).permute(0, 3, 1, 2)
    keys = [[4, 1], [], [5]]  # an image without labels gets no maps
    out = image_cams(model, images, keys, scales=[1.0, 0.5, 1.5], flip=True, stride=2, resize=resize,
                     originals=originals)
    inputs = scaled_inputs(images, [1.0, 0.5, 1.5], resize, originals, model.backbone.mean, model.backbone.std)
    if resize == "irn":
        sizes, strides = [strided_size((9, 11), 4), (9, 11)], [None, 16]
    else:
        sizes, strides = [strided_size((9, 11), 2), (9, 11)], [None, None]
    (low, high), _ = summed_class_maps(model, inputs, True, sizes, "cam", strides)  # all 5 classes
    for (cam, high_res), image_keys, b in zip(out, keys, range(3)):
        index = [k - 1 for k in image_keys]
        assert high_res.shape == (len(index), 9, 11)
        # bilinear resizing is per channel: selecting first leaves every bit as it was
        assert np.array_equal(cam, max_normalise(low[b, index]).numpy())
        assert np.array_equal(high_res, max_normalise(high[b, index]).numpy())
    unlabelled = image_cams(model, images[:2], [[], []], scales=[1.0], flip=True, stride=2, resize=resize,
                            originals=originals[:2], keep_raw=True)
    assert [tuple(a.shape for a in entry) for entry in unlabelled] == [((0,) + sizes[0], (0, 9, 11), (0, 9, 11))] * 2


def test_make_cams_keeps_raw_maps_readable_under_the_key_raw(tmp_path):
    from script_runner import make_cams_fields, run_script, save_network, tiny_dataset
    from wsss.data.datasets import WholeImages
    from wsss.data.labels import load_split
    from wsss.data.transforms import to_tensor
    from wsss.io.h5cache import CamCache
    from wsss.models.loading import load_classifier

    data, labels = tiny_dataset(tmp_path, n_train=2, n_val=1)
    classifier = save_network(tmp_path / "classifier.pt", "classifier")
    model = load_classifier(classifier, "cpu")
    images = WholeImages(data, load_split(labels, "train"))
    for keep_raw in (True, False):
        fields = make_cams_fields(data, labels, classifier, tmp_path / f"keep_raw_{keep_raw}")
        fields["params"]["cams"].update(resize="irn", keep_raw=keep_raw)
        run_script("make_cams", fields)
        path = fields["output"]["cams"]
        with CamCache(path) as cache:
            assert len(cache.ids()) == len(images) == 2
            for item in images:
                entry = cache.read(item["image_id"])
                assert entry["cam"].shape[-2:] == (8, 8)  # 32-px images, stride 4 under irn
                if not keep_raw:
                    assert "raw" not in entry
                    continue
                # exactly what image_cams computes for the image (float32 on disk), classes in key order
                x = to_tensor(item["image"], model.backbone.mean, model.backbone.std)[None]
                ((_, _, raw),) = image_cams(model, x, [item["keys"]], scales=[1.0, 0.5], flip=True, stride=8,
                                            resize="irn", originals=[item["image"]], keep_raw=True)
                assert entry["keys"].tolist() == list(item["keys"])
                assert entry["raw"].shape == (len(item["keys"]), 32, 32)
                np.testing.assert_array_equal(entry["raw"], raw)
        if keep_raw:
            with h5py.File(path, "r") as f:
                assert all(group["raw"].dtype == np.float32 for group in f.values())


def test_threshold_labels_from_one_top_class_equal_the_argmax_with_a_background_plane():
    """cams_to_labels == the argmax over [threshold plane, maps] with the first maximum winning, for
    thresholds that tie with map values (float16-quantised maps, as the cache stores them) and K = 0."""
    from wsss.methods.cam import labels_above, top_class

    rng = np.random.default_rng(0)
    cams = rng.integers(0, 5, size=(3, 9, 11)).astype(np.float16).astype(np.float32) / 4  # many ties
    keys = np.array([3, 7, 15])
    score, label = top_class(cams, keys)
    for threshold in (0.0, 0.25, 0.5, 0.75, 1.0, 0.3):
        planes = np.concatenate([np.full((1, 9, 11), threshold, np.float32), cams])
        expected = np.concatenate([[0], keys])[planes.argmax(0)]
        assert np.array_equal(labels_above(score, label, threshold), expected)
        assert np.array_equal(cams_to_labels(cams, keys, threshold), expected)
    assert not cams_to_labels(np.zeros((0, 4, 5), np.float32), np.zeros(0, np.int64), 0.1).any()

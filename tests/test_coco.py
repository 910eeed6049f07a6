"""MS COCO 2014 -> the VOC layout (wsss/data/coco.py): the category-id -> mask-value mapping, the painting
order of overlapping and crowd instances, labels from annotations, skipped images, and one error line
naming the file for each kind of bad input. Also the class names every stage takes from a dataset."""

import json
import logging
import shutil

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from wsss.data.classes import CLASS_NAMES, dataset_class_names
from wsss.data.coco import (annotation_xml, category_labels, convert_coco, instance_mask, read_instances,
                            semantic_mask, voc_box)
from wsss.data.labels import build_label_table
from wsss.data.synthetic import generate_image
from wsss.data.synthetic_coco import CATEGORIES, FIRST_ID, category_of, category_value, write_synthetic_coco
from wsss.data.voc import read_annotation, read_split
from wsss.errors import DatasetError
from wsss.io.png import read_label_png

SPLITS = {"train": "train2014", "val": "val2014"}
LISTS = {"train": "ImageSets/Segmentation/train.txt", "val": "ImageSets/Segmentation/val.txt"}
SIZE, N_TRAIN, N_VAL, CROWD_EVERY = 48, 6, 3, 5


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    """The synthetic COCO fixture and its conversion."""
    folder = tmp_path_factory.mktemp("coco")
    write_synthetic_coco(folder / "coco", n_train=N_TRAIN, n_val=N_VAL, image_size=SIZE, crowd_every=CROWD_EVERY)
    summary = convert_coco(folder / "coco", folder / "out", SPLITS, progress=False)
    return folder / "coco", folder / "out", summary


def expected_mask(split: str, index: int) -> np.ndarray:
    """The synthetic image's class mask through the fixture's category ids and their mask values: void and
    the crowd object (the first object of every CROWD_EVERY-th training image) are background."""
    sample = generate_image(0, split, index, image_size=SIZE)
    expected = np.zeros_like(sample.labels)
    for k, obj in enumerate(sample.objects):
        if split == "train" and k == 0 and index % CROWD_EVERY == 0:
            continue
        expected[obj.visible & (sample.labels == obj.class_index)] = category_value(category_of(obj.class_index))
    return expected


def test_category_ids_map_to_mask_values_in_ascending_id_order():
    assert category_labels(CATEGORIES) == {1: 1, 3: 2, 10: 3, 90: 4}
    assert category_labels([(90, "toothbrush"), (1, "person")]) == {1: 1, 90: 2}


def test_the_converted_masks_are_the_drawn_ones_through_the_id_mapping(coco):
    _, out, _ = coco
    for split, n in (("train", N_TRAIN), ("val", N_VAL)):
        ids = read_split(out / LISTS[split])
        # ascending ids, without the unannotated image
        assert ids == [f"COCO_{SPLITS[split]}_{FIRST_ID[split] + i:012d}" for i in range(n)]
        for index, image_id in enumerate(ids):
            np.testing.assert_array_equal(read_label_png(out / "SegmentationClass" / f"{image_id}.png"),
                                          expected_mask(split, index), err_msg=image_id)
            assert (out / "JPEGImages" / f"{image_id}.jpg").resolve().is_file()


def test_class_names_come_from_the_categories_in_id_order(coco):
    _, out, _ = coco
    assert dataset_class_names(out) == ("background", "person", "car", "traffic light", "toothbrush")
    table = build_label_table(out, LISTS, progress=False)
    assert list(table.columns[6:]) == ["person", "car", "traffic light", "toothbrush"]


def test_images_without_annotation_are_skipped_and_counted(coco, tmp_path, caplog):
    root, out, summary = coco
    assert summary.set_index("split")[["listed", "without_annotations", "images"]].to_dict("index") == {
        "train": {"listed": N_TRAIN + 1, "without_annotations": 1, "images": N_TRAIN},
        "val": {"listed": N_VAL + 1, "without_annotations": 1, "images": N_VAL}}
    assert int(summary.set_index("split").at["train", "crowd_annotations"]) == 2  # images 0 and 5
    skipped = f"COCO_train2014_{FIRST_ID['train'] + N_TRAIN:012d}"
    assert not (out / "SegmentationClass" / f"{skipped}.png").exists()
    with caplog.at_level(logging.WARNING):
        convert_coco(root, tmp_path / "again", {"train": "train2014"}, progress=False, log=logging.getLogger("t"))
    assert f"({skipped}): no annotation" in caplog.text and "skipped 1 of 7 images" in caplog.text


def test_labels_from_annotations_include_crowds_the_masks_do_not_paint(coco):
    _, out, _ = coco
    from_xml = build_label_table(out, LISTS, progress=False, label_source="xml").set_index("image_id")
    from_masks = build_label_table(out, LISTS, progress=False).set_index("image_id")
    names = dict(CATEGORIES)
    for index in range(N_TRAIN):
        image_id = f"COCO_train2014_{FIRST_ID['train'] + index:012d}"
        objects = generate_image(0, "train", index, image_size=SIZE).objects
        every = {names[category_of(o.class_index)] for o in objects}
        painted = {names[category_of(o.class_index)] for k, o in enumerate(objects)
                   if not (k == 0 and index % CROWD_EVERY == 0)}
        assert {c for c in names.values() if from_xml.at[image_id, c]} == every
        assert {c for c in names.values() if from_masks.at[image_id, c]} == painted
    crowd_xml = read_annotation(out / "Annotations" / "COCO_train2014_000000001000.xml", dataset_class_names(out))
    assert crowd_xml[0]["difficult"] == 1 and all(o["difficult"] == 0 for o in crowd_xml[1:])


def test_max_images_keeps_the_first_annotated_images(coco, tmp_path):
    root, _, _ = coco
    summary = convert_coco(root, tmp_path / "out", SPLITS, max_images={"val": 2}, progress=False)
    assert read_split(tmp_path / "out" / LISTS["val"]) == [f"COCO_val2014_{FIRST_ID['val'] + i:012d}" for i in (0, 1)]
    assert summary.set_index("split").at["val", "images"] == 2
    assert len(read_split(tmp_path / "out" / LISTS["train"])) == N_TRAIN


def test_worker_processes_write_the_same_files(coco, tmp_path):
    root, out, _ = coco
    convert_coco(root, tmp_path / "out", SPLITS, workers=2, progress=False)
    for path in sorted((out / "SegmentationClass").glob("*.png")):
        assert (tmp_path / "out" / "SegmentationClass" / path.name).read_bytes() == path.read_bytes()
    for path in sorted((out / "Annotations").glob("*.xml")):
        assert (tmp_path / "out" / "Annotations" / path.name).read_text() == path.read_text()


def _square(x0, y0, x1, y1):
    """A polygon covering pixel columns x0..x1-1 and rows y0..y1-1 (pycocotools' rasterisation)."""
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def test_later_instances_are_painted_over_earlier_ones_and_crowds_not_at_all():
    h, w = 8, 10
    crowd = np.zeros((h, w), dtype=np.uint8)
    crowd[:, 8:] = 1
    rle = mask_utils.encode(np.asfortranarray(crowd))
    annotations = [
        {"id": 1, "category_id": 3, "segmentation": _square(0, 0, 6, 6)},
        {"id": 2, "category_id": 90, "segmentation": _square(4, 4, 9, 8)},  # over 1, under the crowd
        {"id": 3, "category_id": 1, "iscrowd": 1, "segmentation": {"size": [h, w], "counts": rle["counts"].decode()}},
    ]
    mask = semantic_mask(annotations, h, w, {1: 1, 3: 2, 90: 4})
    expected = np.zeros((h, w), dtype=np.uint8)
    expected[0:6, 0:6] = 2
    expected[4:8, 4:9] = 4
    np.testing.assert_array_equal(mask, expected)  # the crowd's columns 8, 9 keep what lies under it
    reversed_order = semantic_mask(annotations[1::-1], h, w, {1: 1, 3: 2, 90: 4})
    assert reversed_order[5, 5] == 2 and mask[5, 5] == 4


def test_polygons_and_both_rle_forms_rasterise_alike():
    pixels = np.zeros((6, 7), dtype=bool)
    pixels[1:4, 2:6] = True
    compressed = mask_utils.encode(np.asfortranarray(pixels.astype(np.uint8)))
    flat = pixels.flatten(order="F").astype(int).tolist()  # runs: 0s, 1s, 0s, ... column-major
    runs, value, count = [], 0, 0
    for v in flat:
        if v != value:
            runs.append(count)
            value, count = v, 0
        count += 1
    runs.append(count)
    for segmentation in (_square(2, 1, 6, 4), {"size": [6, 7], "counts": compressed["counts"].decode()},
                         {"size": [6, 7], "counts": runs}):
        np.testing.assert_array_equal(instance_mask(segmentation, 6, 7), pixels)


def test_boxes_become_voc_pixel_boxes_and_the_xml_reads_back():
    assert voc_box([0.0, 0.0, 10.0, 5.0], 20, 20) == (1, 1, 10, 5)
    assert voc_box([2.5, 3.2, 4.1, 1.0], 20, 20) == (3, 4, 7, 5)  # the pixels the box touches
    assert voc_box([15.0, 15.0, 30.0, 30.0], 20, 20) == (16, 16, 20, 20)  # clipped
    image = {"id": 7, "file_name": "x.jpg", "height": 20, "width": 20}
    xml = annotation_xml(image, [{"category_id": 10, "bbox": [0, 0, 10, 5]}, {"category_id": 1, "iscrowd": 1}],
                         {1: "person", 10: "traffic light"})
    assert "<name>traffic light</name>" in xml and xml.count("<bndbox>") == 1


def test_without_a_class_list_a_root_has_vocs_classes_and_a_bad_list_is_named(tmp_path):
    assert dataset_class_names(tmp_path) == CLASS_NAMES
    assert dataset_class_names({"kind": "wsol"}, wsol_num_classes=2) == ("background", "class_000", "class_001")
    (tmp_path / "class_names.txt").write_text("cat\ndog\ncat\n")
    with pytest.raises(DatasetError, match=r"class_names.txt: class names repeat: \['cat'\]"):
        dataset_class_names(tmp_path)


# --- bad input: one line naming the file and the problem ---------------------------------------------------


def _broken(coco, tmp_path, damage):
    root = tmp_path / "coco"
    shutil.copytree(coco[0], root)
    path = root / "annotations" / "instances_val2014.json"
    data = json.loads(path.read_text())
    damage(root, path, data)
    return root, path


def _write(path, data):
    path.write_text(json.dumps(data))


BAD_INPUTS = {
    "not_instances": (lambda root, path, data: _write(path, {"info": {}, "images": data["images"],
                                                             "annotations": [{"id": 1, "image_id": 2000,
                                                                              "caption": "a toothbrush"}]}),
                      r"instances_val2014.json: not a COCO instances file: it has no list \['categories'\]"),
    "not_json": (lambda root, path, data: path.write_text("images: []\n"),
                 r"instances_val2014.json: not a JSON file"),
    "unknown_category": (lambda root, path, data: _write(path, {**data, "annotations": [
        {**data["annotations"][0], "category_id": 91}, *data["annotations"][1:]]}),
        r"instances_val2014.json: annotation 100001 \(image 2000\) has category id 91, which is not among the "
        r"4 categories' ids \(1, 3, 10, 90\)"),
    "unlisted_image": (lambda root, path, data: _write(path, {**data, "annotations": [
        {**data["annotations"][0], "image_id": 77}, *data["annotations"][1:]]}),
        r"instances_val2014.json: annotation 100001 \(image 77\) is of an image id the file does not list"),
    "missing_image": (lambda root, path, data: (root / "val2014" / "COCO_val2014_000000002001.jpg").unlink(),
                      r"val2014/COCO_val2014_000000002001.jpg: image file of COCO image id 2001 \(listed in "
                      r".*instances_val2014.json\) does not exist"),
    "wrong_size": (lambda root, path, data: _write(path, {**data, "images": [
        {**data["images"][0], "width": 50}, *data["images"][1:]]}),
        r"COCO_val2014_000000002000.jpg: image is 48x48 \(WxH\), but .*instances_val2014.json gives image id "
        r"2000 50x48"),
}


@pytest.mark.parametrize("damage", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_naming_the_file_before_anything_is_written(coco, tmp_path, damage):
    change, message = BAD_INPUTS[damage]
    root, _ = _broken(coco, tmp_path, change)
    with pytest.raises(DatasetError, match=message) as error:
        convert_coco(root, tmp_path / "out", SPLITS, progress=False)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_the_sets_must_share_their_categories(coco, tmp_path):
    def rename(root, path, data):
        _write(path, {**data, "categories": [{**data["categories"][0], "name": "brush"}, *data["categories"][1:]]})

    root, _ = _broken(coco, tmp_path, rename)
    with pytest.raises(DatasetError, match=r"instances_val2014.json: its categories differ from those of "
                                           r".*instances_train2014.json"):
        convert_coco(root, tmp_path / "out", SPLITS, progress=False)
    assert read_instances(root / "annotations" / "instances_val2014.json").categories[-1] == (90, "brush")


def test_affinity_pairs_of_a_class_beyond_vocs_twenty_are_positive_pairs():
    from wsss.refine.pairs import pair_labels

    labels = np.array([[80, 80, 0], [80, 255, 0]])  # COCO's toothbrush, background, one neutral pixel
    fg, bg, neg = pair_labels(labels, 2)
    # radius 2: 4-neighbours and diagonals; the 80s form 3 pairs, the 0s 1, and 80-0 pairs are negative
    assert (int(fg.sum()), int(bg.sum()), int(neg.sum())) == (3, 1, 2)

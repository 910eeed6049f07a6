"""Pseudo masks from the CAMs alone (the "no RW" ablation): the CAM mIoU's argmax, written as PNGs."""

import numpy as np
import pandas as pd

from wsss.data.synthetic import generate_synthetic_voc
from wsss.io.h5cache import CamCacheWriter
from wsss.io.png import read_label_png
from wsss.methods.cam import cams_to_labels
from wsss.stages.make_cam_masks import write_cam_masks


def test_masks_are_the_thresholded_cam_argmax_and_resume(tmp_path):
    root = tmp_path / "voc"
    generate_synthetic_voc(root, n_train=3, n_val=1, image_size=32, progress=False)
    rng = np.random.default_rng(0)
    ids, maps = ["train_00000", "train_00001", "train_00002"], {}
    with CamCacheWriter(tmp_path / "cams.h5", {"split": "train"}) as writer:
        for image_id in ids:
            keys = np.array([3, 7])
            maps[image_id] = (keys, rng.random((2, 32, 32)).astype(np.float16).astype(np.float32))
            writer.add(image_id, keys, (32, 32), high_res=maps[image_id][1])
    rows = pd.DataFrame({"image_id": ids})
    stats = write_cam_masks(tmp_path / "cams.h5", root, rows, tmp_path / "masks", threshold=0.4, crf=None,
                            progress=False)
    assert stats == {"images": 3, "resumed": 0}
    for image_id in ids:
        keys, cams = maps[image_id]
        mask = read_label_png(tmp_path / "masks" / f"{image_id}.png")
        assert np.array_equal(mask, cams_to_labels(cams, keys, 0.4))
        assert set(np.unique(mask)) <= {0, 3, 7} and (mask == 0).any()
    with_crf = write_cam_masks(tmp_path / "cams.h5", root, rows, tmp_path / "crf", threshold=0.4,
                               crf={"n_iters": 5, "gauss_sxy": 3, "gauss_compat": 3, "bilateral_sxy": 10,
                                    "bilateral_srgb": 13, "bilateral_compat": 10}, progress=False)
    assert with_crf["images"] == 3
    assert set(np.unique(read_label_png(tmp_path / "crf" / "train_00000.png"))) <= {0, 3, 7}

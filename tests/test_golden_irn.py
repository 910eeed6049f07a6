"""Golden tests against IRN's official code (jiwoon-ahn/irn, commit a2ece0034d0a5a9635e4e131cd4fa6e2a779d316).

Every expected value below was printed once by the official functions, copied into a scratch file
outside this repository (unchanged unless a test says otherwise), run on the fixed inputs of
tests/golden_inputs.py in this repository's venv (numpy 2, pydensecrf); the numbers were pasted
here as literals. Nothing here runs or imports IRN's code.
"""

import pytest
import yaml

from golden_inputs import label_scene
from test_golden_psa import REPO_SCHEMA, label_rows, schema_defaults
from wsss.refine.affinity_labels import irn_affinity_labels
from wsss.refine.random_walk import pair_indices
from wsss.stages.make_affinity_labels import label_crf


def irn_crf_defaults() -> dict:
    """The schema defaults of affinity_labels.irn_crf."""
    section = yaml.safe_load(REPO_SCHEMA.read_text())["properties"]["affinity_labels"]["properties"]["irn_crf"]
    return {key: value["default"] for key, value in section["properties"].items()}


# --- affinity labels (IRN's inter-pixel relation labels) ------------------------------------------
# label_scene(), cam_dict = {'high_res': cams, 'keys': keys - 1} (0-based, as step/make_cam.py stores
# them); step/cam_to_ir_label.py:23-40 verbatim with conf_fg_thres 0.30 and conf_bg_thres 0.05
# (run_sample.py:35-36) and misc/imutils.py:156-170 crf_inference_label (t 10, gt_prob 0.7, Gaussian
# 3 / 3, bilateral 50 / 5 / 10). '.' = 0, 'a' = class 4, 'b' = class 11, 'x' = 255.
IRN_LABELS = [
    '..........................x.............',
    '........................................',
    '.xxxxxxxxxxxxxxxxxxx....................',
    '.xxxxxxxxxxxxxxxxxxx....................',
    '.xxxxxxxxxxxxxxxxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx....................',
    '.xxxaaaaaaaaaaaaxxxx.bbbbbbbbbbbbbbb....',
    '.xxxaaaaaaaaaaaaxxxx.bbbbbbbbbbbbbbb....',
    '.xxxaaaaaaaaaaaaxxxx.bbbbbbbbbbbbbbb....',
    '.xxxxxxxxxxxxxxxxxxx.bbbbbbbbbbbbbbb....',
    '.xxxxxxxxxxxxxxxxxxx.bbbbbbbbbbbbbbb....',
    '.xxxxxxxxxxxxxxxxxxx.bbbbbbbbbbbbbbb....',
    '.xxxxxxxxxxxxxxxxxxx.bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '.....................bbbbbbbbbbbbbbb....',
    '........................................',
    '........................................',
    '........................................',
    '...x....................................',
]


def test_irn_crf_defaults_are_irns_label_crf():
    assert irn_crf_defaults() == {"n_iters": 10, "gt_prob": 0.7, "gauss_sxy": 3, "gauss_compat": 3,
                                  "bilateral_sxy": 50, "bilateral_srgb": 5, "bilateral_compat": 10}


def test_irn_affinity_labels_match_cam_to_ir_label():
    """Our irn method with affinity_labels.irn_crf's defaults, as make_affinity_labels picks them."""
    image, cams, keys = label_scene()
    crf = label_crf("irn", schema_defaults("crf"), irn_crf_defaults())
    labels = irn_affinity_labels(image, cams, keys, fg_threshold=0.30, bg_threshold=0.05, crf_kwargs=crf)
    # the same float32 unary and kernels in pydensecrf: equal, not close (the official CRFs' smallest
    # top-2 marginal gap on this input is 0.20: no near tie)
    assert label_rows(labels, keys) == IRN_LABELS
    # PSA's dCRF values of the crf section (bilateral 80 / 13), which the irn method used before, differ
    psa_crf = irn_affinity_labels(image, cams, keys, fg_threshold=0.30, bg_threshold=0.05,
                                  crf_kwargs=schema_defaults("crf"))
    assert label_rows(psa_crf, keys) != IRN_LABELS


# --- pair set -------------------------------------------------------------------------------------
# misc/indexing.py:6-88 PathIndex(radius=5, default_size=(7, 12)).src_indices and .dst_indices (IRN's
# training pairs, step/train_irn.py:12, 20-21; it uses radius 10 at stride 4, the same crop).
IRN_SRC = [4, 5, 6, 7, 16, 17, 18, 19, 28, 29, 30, 31]
IRN_DST = [  # one row per path, IRN's order (by path length)
    [5, 6, 7, 8, 17, 18, 19, 20, 29, 30, 31, 32],
    [16, 17, 18, 19, 28, 29, 30, 31, 40, 41, 42, 43],
    [6, 7, 8, 9, 18, 19, 20, 21, 30, 31, 32, 33],
    [28, 29, 30, 31, 40, 41, 42, 43, 52, 53, 54, 55],
    [7, 8, 9, 10, 19, 20, 21, 22, 31, 32, 33, 34],
    [15, 16, 17, 18, 27, 28, 29, 30, 39, 40, 41, 42],
    [17, 18, 19, 20, 29, 30, 31, 32, 41, 42, 43, 44],
    [40, 41, 42, 43, 52, 53, 54, 55, 64, 65, 66, 67],
    [8, 9, 10, 11, 20, 21, 22, 23, 32, 33, 34, 35],
    [52, 53, 54, 55, 64, 65, 66, 67, 76, 77, 78, 79],
    [14, 15, 16, 17, 26, 27, 28, 29, 38, 39, 40, 41],
    [18, 19, 20, 21, 30, 31, 32, 33, 42, 43, 44, 45],
    [27, 28, 29, 30, 39, 40, 41, 42, 51, 52, 53, 54],
    [29, 30, 31, 32, 41, 42, 43, 44, 53, 54, 55, 56],
    [26, 27, 28, 29, 38, 39, 40, 41, 50, 51, 52, 53],
    [30, 31, 32, 33, 42, 43, 44, 45, 54, 55, 56, 57],
    [13, 14, 15, 16, 25, 26, 27, 28, 37, 38, 39, 40],
    [19, 20, 21, 22, 31, 32, 33, 34, 43, 44, 45, 46],
    [25, 26, 27, 28, 37, 38, 39, 40, 49, 50, 51, 52],
    [31, 32, 33, 34, 43, 44, 45, 46, 55, 56, 57, 58],
    [38, 39, 40, 41, 50, 51, 52, 53, 62, 63, 64, 65],
    [39, 40, 41, 42, 51, 52, 53, 54, 63, 64, 65, 66],
    [41, 42, 43, 44, 53, 54, 55, 56, 65, 66, 67, 68],
    [42, 43, 44, 45, 54, 55, 56, 57, 66, 67, 68, 69],
    [12, 13, 14, 15, 24, 25, 26, 27, 36, 37, 38, 39],
    [20, 21, 22, 23, 32, 33, 34, 35, 44, 45, 46, 47],
    [37, 38, 39, 40, 49, 50, 51, 52, 61, 62, 63, 64],
    [43, 44, 45, 46, 55, 56, 57, 58, 67, 68, 69, 70],
    [51, 52, 53, 54, 63, 64, 65, 66, 75, 76, 77, 78],
    [53, 54, 55, 56, 65, 66, 67, 68, 77, 78, 79, 80],
    [24, 25, 26, 27, 36, 37, 38, 39, 48, 49, 50, 51],
    [32, 33, 34, 35, 44, 45, 46, 47, 56, 57, 58, 59],
    [50, 51, 52, 53, 62, 63, 64, 65, 74, 75, 76, 77],
    [54, 55, 56, 57, 66, 67, 68, 69, 78, 79, 80, 81],
]


def test_irn_path_index_pairs_are_the_psa_pair_set():
    """IRN's PathIndex pairs start in PSA's valid crop too; it orders them by path length, so compare sets."""
    src, dst = pair_indices(7, 12, 5, pair_set="psa")
    ours = set(zip(src.tolist(), dst.tolist()))
    official = {(s, d) for row in IRN_DST for s, d in zip(IRN_SRC, row)}
    assert len(official) == len(IRN_DST) * len(IRN_SRC) == len(ours)
    assert ours == official
    src_all, _ = pair_indices(7, 12, 5, pair_set="all_in_image")
    assert len(src_all) > len(ours)


def test_label_crf_picks_each_methods_section():
    crf, irn_crf = {"bilateral_sxy": 80}, {"bilateral_sxy": 50}
    assert label_crf("psa", crf, irn_crf) == crf and label_crf("irn", crf, irn_crf) == irn_crf
    assert label_crf("irn", crf, irn_crf) is not irn_crf  # a copy: the stage never edits the config
    with pytest.raises(ValueError):
        label_crf("pas", crf, irn_crf)

"""Golden tests: Puzzle-CAM's tiling, merging, loss terms and alpha schedule against the official code.

shjo-april/PuzzleCAM @ 659b4c1b464a86faf363314acd71a5ce9480ff9b. The expected values were printed once by
the official code in a scratch copy under /tmp (never in this repo): core/puzzle_utils.py (whole file,
verbatim: tile_features, merge_features), tools/ai/torch_utils.py:33-34 (L1_Loss), core/abc_modules.py:
10-14 (global_average_pooling_2d), and the loop body of train_classification_with_puzzle.py:326-381
with its defaults (--loss_option cl_pcl_re, --level feature, --re_loss L1_Loss, --re_loss_option
masking, :76-91) and the README's --alpha 4.00 --alpha_schedule 0.50 (README.md:52), max_iteration 10,
num_pieces 4, batch size 2. The network (core/networks.py:84-94, with_cam=True) had its trunk replaced by
padded_features (tests/golden_stubs.py: a zero-padded 3x3 conv, so a tile's border changes its maps)
and the bias-free 1x1 head head_weight(). Input: puzzle_images() and labels image 0 {2, 14}, image 1 {7}.

What these values pin down: L_re compares the raw class maps ('feature' level: no ReLU, no
normalisation; with make_cam on both, the official 'cam' level, it printed 0.004897234961390495
instead), L1, multiplied by the labels and averaged over all B x C x h x w entries; L_p-cls is the
multi-label soft-margin loss of the merged maps' GAP; alpha = min(alpha * it / (T * schedule), alpha).

Tolerance: float32 means over <= 2 x 20 x 4 x 6 = 960 terms (pairwise sums: about log2(960) = 10
roundings of 6e-8): rtol 2e-6.
"""

import numpy as np
import pytest
import torch

from golden_stubs import StubClassifier, padded_features
from wsss.methods.puzzle import alpha_schedule, merge, tile
from wsss.training.classifier import classifier_loss
from wsss.training.loop import Step

torch.set_num_threads(2)

# tile_features(arange(48).view(2, 1, 4, 6), 4): row-major tiles, each tile's batch together
TILES = np.array([
    0, 1, 2, 6, 7, 8, 24, 25, 26, 30, 31, 32, 3, 4, 5, 9, 10, 11, 27, 28, 29, 33, 34, 35, 12, 13, 14, 18, 19, 20,
    36, 37, 38, 42, 43, 44, 15, 16, 17, 21, 22, 23, 39, 40, 41, 45, 46, 47
], np.float32).reshape(8, 1, 2, 3)

# train_classification_with_puzzle.py:344-381 at iterations 0, 3 and 7 of 10
CLASS_LOSS, P_CLASS_LOSS, RE_LOSS = 1.3040461540222168, 1.0089375972747803, 0.05543235316872597
ALPHA = {0: 0.0, 3: 2.4, 7: 4.0}
LOSS = {0: 2.312983751296997, 3: 2.446021318435669, 7: 2.5347132682800293}
# :376-379 for iterations 0..10 of 10
ALPHAS = [0.0, 0.8, 1.6, 2.4, 3.2, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]
PUZZLE = {"grid": [2, 2], "alpha": 4.0, "ramp": 0.5, "p_cls": True, "re": True}


def puzzle_images():
    """(2, 3, 8, 12): cos(0.7 h + 0.3 w + 1.1 c + 0.5 n h) (1 + w / 48)."""
    n, c, h, w = torch.meshgrid(torch.arange(2.0), torch.arange(3.0), torch.arange(8.0), torch.arange(12.0),
                                indexing="ij")
    return torch.cos(0.7 * h + 0.3 * w + 1.1 * c + 0.5 * n * h) * (1 + 0.25 * w / 12)


def puzzle_labels():
    labels = torch.zeros(2, 20)
    labels[0, 2] = labels[0, 14] = labels[1, 7] = 1
    return labels


def test_tile_order_and_merge_are_puzzlecams():
    x = torch.arange(48, dtype=torch.float32).view(2, 1, 4, 6)
    tiles = tile(x, (2, 2))
    np.testing.assert_array_equal(tiles.numpy(), TILES)
    assert torch.equal(merge(tiles, (2, 2)), x)


@pytest.mark.parametrize("iteration", [0, 3, 7])
def test_puzzle_loss_terms_match_the_official_training_step(iteration):
    """L_cls + L_p-cls + alpha(t) L_re of one step, term by term (classifier_loss with methods [puzzle])."""
    loss, parts = classifier_loss(["puzzle"], puzzle=PUZZLE)(StubClassifier(padded_features),
                                                            (puzzle_images(), puzzle_labels()), Step(iteration, 10))
    assert parts["cls"] == pytest.approx(CLASS_LOSS, rel=2e-6)
    assert parts["p_cls"] == pytest.approx(P_CLASS_LOSS, rel=2e-6)
    assert parts["re"] == pytest.approx(RE_LOSS, rel=2e-6)
    assert parts["alpha"] == pytest.approx(ALPHA[iteration], rel=1e-12)
    assert loss.item() == pytest.approx(LOSS[iteration], rel=2e-6)


def test_alpha_schedule_is_puzzlecams():
    assert [alpha_schedule(Step(i, 10).progress, 4.0, 0.5) for i in range(11)] == pytest.approx(ALPHAS, rel=1e-12)

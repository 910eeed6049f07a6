"""ADL, the attention-based dropout layer (Choe & Shim, CVPR 2019), after chosen blocks of the backbone.

In training, an ADL takes the feature map F (B, C, h, w) a block gives and its self-attention
A = mean_c F (B, 1, h, w), and multiplies F by one of two maps:
- the drop mask, 0 where A >= threshold * max(A) of that image and 1 elsewhere: the most attended
  region is dropped, so the layers after it must find evidence elsewhere; with probability drop_rate;
- the importance map sigmoid(A), which stresses the attended region; otherwise.
draw "batch" makes one choice per layer and forward pass for the whole batch (both official codes);
"image" makes it per image. In eval mode an ADL is the identity, so the CAMs at inference are the plain
classifier's. ADLs have no parameters; they are forward hooks on the backbone's blocks, registered by
build, so the classifier's state_dict keys are unchanged and the saved model loads into the plain
classifier. They act while the classifier they were put into is in training mode (also in a stage that
frozen_stages holds in eval mode).

Where they go (positions: [stage, block] pairs; block indexes the children of backbone.stages[stage],
negative from the end; null = DEFAULT_POSITIONS for the backbone):
- resnet50 / resnet101: after the first block of layer3 and the first and last blocks of layer4,
  wsolevaluation's wsol/resnet.py (`_ADL_POSITION = [[], [], [], [0], [0, 2]]`: an ADL after block 0 of
  layer3, after blocks 0 and 2 of layer4), which matches the ADL repository's run_train.sh for
  ResNet50-SE (`--gating_position 31 41 5`: after the first block of group2 and of group3, and after
  group3; backbone/resnet.py numbers them).
- mobilenet_v2 (not in either code): the same places of its stride-16 and last stages: after the first
  block of features[7:14], after the first block of features[14:19] and after its last module (the
  1x1 conv to 1280 channels, the map the head reads).
- smallnet: after the first conv-BN-ReLU of its third stage and after both of its fourth (the last
  stage's output, the map the head reads).

Defaults: drop_rate 0.75 and threshold 0.9, wsolevaluation's config.py (`--adl_drop_rate` 0.75,
`--adl_threshold` 0.9); its wsol/method/adl.py uses the drop mask when floor(rand + drop_rate) is 1,
i.e. with probability drop_rate. The ADL repository's run_train.sh gives the same: `--adl_keep_prob
0.25` (ops.py: drop probability 1 - keep_prob), `--adl_threshold 0.90`. draw "batch": both codes
draw one number per layer call for the whole batch (`torch.rand([])` in wsol/method/adl.py,
`tf.random_uniform([], ...)` in ops.py). positions null: the places above. The draws come from
torch's global generator (on the CPU), which the training loop checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models.classifier import Classifier
from .base import ClassifierMethod, register

#: [stage, block] of each ADL per backbone: see the module docstring.
DEFAULT_POSITIONS = {
    "resnet50": [[2, 0], [3, 0], [3, -1]],
    "resnet101": [[2, 0], [3, 0], [3, -1]],
    "mobilenet_v2": [[2, 0], [3, 0], [3, -1]],
    "smallnet": [[2, 0], [3, 0], [3, -1]],
}

DRAWS = ("batch", "image")


def self_attention(features: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, 1, h, w): the channel mean of the feature map."""
    return features.mean(dim=1, keepdim=True)


def drop_mask(attention: torch.Tensor, threshold: float) -> torch.Tensor:
    """(B, 1, h, w) attention -> mask of its dtype: 0 where attention >= threshold * the image's maximum
    attention, 1 below it."""
    peak = attention.flatten(1).amax(dim=1).view(-1, 1, 1, 1)
    return (attention < threshold * peak).to(attention.dtype)


def importance_map(attention: torch.Tensor) -> torch.Tensor:
    """sigmoid(attention), (B, 1, h, w)."""
    return torch.sigmoid(attention)


def attention_dropout(features: torch.Tensor, use_drop: torch.Tensor, threshold: float) -> torch.Tensor:
    """features (B, C, h, w) times, per image, its drop mask where use_drop (B,) is True and its
    importance map elsewhere."""
    attention = self_attention(features)
    chosen = torch.where(use_drop.to(features.device).view(-1, 1, 1, 1), drop_mask(attention, threshold),
                         importance_map(attention))
    return features * chosen


def choose_drop(batch: int, drop_rate: float, draw: str) -> torch.Tensor:
    """(batch,) bool: which images get the drop mask, True with probability drop_rate; one draw for the
    batch ("batch") or one per image ("image")."""
    if draw == "batch":
        return (torch.rand(()) < drop_rate).expand(batch)
    if draw == "image":
        return torch.rand(batch) < drop_rate
    raise ValueError(f"unknown adl draw {draw!r} (expected one of {', '.join(DRAWS)})")


class AttentionDropout:
    """A forward hook that applies ADL to its module's output while owner (the classifier) trains."""

    def __init__(self, owner: nn.Module, drop_rate: float, threshold: float, draw: str = "batch") -> None:
        if not 0 <= drop_rate <= 1 or not 0 <= threshold <= 1:
            raise ValueError(f"adl drop_rate and threshold must be in [0, 1], got {drop_rate} and {threshold}")
        if draw not in DRAWS:
            raise ValueError(f"unknown adl draw {draw!r} (expected one of {', '.join(DRAWS)})")
        self.owner, self.drop_rate, self.threshold, self.draw = owner, drop_rate, threshold, draw

    def __call__(self, module: nn.Module, inputs, output: torch.Tensor) -> torch.Tensor:
        if not self.owner.training:
            return output
        return attention_dropout(output, choose_drop(output.shape[0], self.drop_rate, self.draw), self.threshold)


def block_at(backbone: nn.Module, stage: int, block: int) -> nn.Module:
    """Child `block` of backbone.stages[stage]; a ValueError names the backbone when there is none."""
    try:
        return list(backbone.stages[stage].children())[block]
    except IndexError:
        raise ValueError(f"adl position [{stage}, {block}]: backbone {backbone.name!r} has no such block "
                         f"(stages: {[len(list(s.children())) for s in backbone.stages]} blocks)") from None


def insert_adl(classifier: Classifier, positions=None, *, drop_rate: float, threshold: float,
               draw: str = "batch") -> list:
    """Hook an ADL after each [stage, block] of positions (None: DEFAULT_POSITIONS of the classifier's
    backbone) into the classifier; returns the hooks' handles (handle.remove() takes one out)."""
    backbone = classifier.backbone
    if positions is None:
        if backbone.name not in DEFAULT_POSITIONS:
            raise ValueError(f"adl has no default positions for backbone {backbone.name!r}: "
                             "set classifier.adl.positions")
        positions = DEFAULT_POSITIONS[backbone.name]
    blocks = [block_at(backbone, stage, block) for stage, block in positions]
    if len({id(b) for b in blocks}) != len(blocks):
        raise ValueError(f"adl positions {positions} name one block twice")
    hook = AttentionDropout(classifier, drop_rate, threshold, draw)
    return [block.register_forward_hook(hook) for block in blocks]


@register("adl")
class ADL(ClassifierMethod):
    """ADLs hooked into the backbone of every classifier of the network (an EADER adversary's too)."""

    defaults = {"drop_rate": 0.75, "threshold": 0.9, "positions": None, "draw": "batch"}

    def build(self, network, make_classifier):
        classifiers = [module for module in network.modules() if isinstance(module, Classifier)]
        if not classifiers:
            raise ValueError(f"adl needs a wsss Classifier to put its layers into, got {type(network).__name__}")
        settings = self.settings
        for classifier in classifiers:
            insert_adl(classifier, settings["positions"], drop_rate=settings["drop_rate"],
                       threshold=settings["threshold"], draw=settings["draw"])
        return network

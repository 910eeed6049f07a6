"""GAP multi-label classifier whose bias-free 1x1 head gives class activation maps (Zhou et al. CVPR 2016, IRN).

Because the head is linear and has no bias, head(GAP(f)) == GAP(head(f)): the logits are exactly
the spatial means of the class maps, which is what makes the maps CAMs.
"""

from __future__ import annotations

import torch
from torch import nn

from wsss.models.backbones import Backbone, build_backbone
from wsss.training.param_groups import GroupRule, lr_groups


def global_average_pool(x: torch.Tensor) -> torch.Tensor:
    """Spatial mean: (B, C, h, w) -> (B, C, 1, 1)."""
    return x.mean(dim=(2, 3), keepdim=True)


class ClassMapHead(nn.Conv2d):
    """The bias-free 1x1 conv from features to class maps; its output is fp32 also under autocast."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).float()


class Classifier(nn.Module):
    """Backbone -> GAP -> bias-free 1x1 conv: multi-label logits; the same 1x1 conv before GAP gives CAMs."""

    def __init__(self, backbone: Backbone, num_classes: int = 20) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.head = ClassMapHead(backbone.stage_channels[-1], num_classes, kernel_size=1, bias=False)
        nn.init.xavier_uniform_(self.head.weight)
        self.mean, self.std = backbone.mean, backbone.std

    def features(self, x: torch.Tensor) -> torch.Tensor:
        # (B, 3, H, W) -> (B, C, h, w), the backbone's last stage
        return self.backbone(x)[-1]

    def class_maps(self, x: torch.Tensor) -> torch.Tensor:
        # (B, 3, H, W) -> (B, num_classes, h, w): raw CAMs, no ReLU or normalisation
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, 3, H, W) -> (B, num_classes) logits = head(GAP(features)) = GAP(class_maps)
        return self.head(global_average_pool(self.features(x))).flatten(1)

    def param_groups(self, lr: float, rule: GroupRule = GroupRule()) -> list[dict]:
        """SGD parameter groups: pretrained backbone at lr, the new head at rule.head_lr_scale x lr (IRN: 10x).

        See wsss.training.param_groups.lr_groups for the rule's bias and head-stage options.
        """
        return lr_groups(self.backbone.stages, [self.head], lr, rule)


def build_classifier(
    backbone_name: str,
    *,
    pretrained: bool = False,
    output_stride: int | None = None,
    num_classes: int = 20,
    allow_download: bool = False,
) -> Classifier:
    """A Classifier on ``build_backbone(backbone_name, ...)`` (output_stride None: the backbone's default)."""
    backbone = build_backbone(backbone_name, pretrained=pretrained, output_stride=output_stride,
                              allow_download=allow_download)
    return Classifier(backbone, num_classes=num_classes)

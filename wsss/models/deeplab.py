"""DeepLab-style segmenter (Chen et al., DeepLabv3 2017): dilated backbone -> ASPP head -> bilinear upsampling."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP

from wsss.models.backbones import Backbone, build_backbone, load_backbone_state, resize_bilinear
from wsss.training.param_groups import GroupRule, lr_groups


def aspp_rates(output_stride: int) -> tuple[int, int, int]:
    """ASPP dilation rates for a feature map at ``output_stride``: (6, 12, 18) at 16, (12, 24, 36) at 8."""
    return tuple(rate * 16 // output_stride for rate in (6, 12, 18))


def deeplab_head(in_channels: int, num_classes: int, rates, channels: int = 256) -> nn.Sequential:
    """torchvision's DeepLabV3 head (ASPP -> 3x3 conv-BN-ReLU -> 1x1 classifier) with a chosen width.

    channels=256 is torchvision's DeepLabHead exactly; a small backbone gets a narrower head so
    that the head does not cost several times the backbone.
    """
    return nn.Sequential(
        ASPP(in_channels, list(rates), out_channels=channels),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.Conv2d(channels, num_classes, 1),
    )


#: ASPP width per backbone: torchvision's 256, except the small CPU net.
HEAD_CHANNELS = {"smallnet": 64}


class Segmenter(nn.Module):
    """Backbone's last feature map -> DeepLabV3 head (ASPP) -> logits upsampled to the input size."""

    def __init__(self, backbone: Backbone, num_classes: int = 21, head_channels: int | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.num_classes = num_classes
        self.head = deeplab_head(backbone.stage_channels[-1], num_classes, aspp_rates(backbone.output_stride),
                                 head_channels or HEAD_CHANNELS.get(backbone.name, 256))
        self.mean, self.std = backbone.mean, backbone.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, H, W) -> (B, num_classes, H, W)
        logits = self.head(self.backbone(x)[-1]).float()  # (B, num_classes, h, w), fp32 under autocast too
        return resize_bilinear(logits, x.shape[-2:])

    def param_groups(self, lr: float, rule: GroupRule = GroupRule()) -> list[dict]:
        """SGD parameter groups: pretrained backbone at lr, the new ASPP head at rule.head_lr_scale x lr (10x).

        See wsss.training.param_groups.lr_groups for the rule's bias and head-stage options.
        """
        return lr_groups(self.backbone.stages, [self.head], lr, rule)

    def load_backbone_from_classifier(self, classifier_state_dict: Mapping[str, torch.Tensor]):
        """Initialise the backbone from a trained Classifier's state dict (its ``backbone.*`` entries)."""
        return load_backbone_state(self.backbone, classifier_state_dict)


def build_segmenter(
    backbone_name: str,
    *,
    pretrained: bool = False,
    output_stride: int | None = None,
    num_classes: int = 21,
    allow_download: bool = False,
) -> Segmenter:
    """A Segmenter on ``build_backbone(backbone_name, ...)`` (output_stride None: the backbone's default)."""
    backbone = build_backbone(backbone_name, pretrained=pretrained, output_stride=output_stride,
                              allow_download=allow_download)
    return Segmenter(backbone, num_classes=num_classes)

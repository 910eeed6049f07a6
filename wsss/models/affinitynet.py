"""AffinityNet (Ahn & Kwak, CVPR 2018, PSA): per-pixel features whose L1 distances give pair affinities.

The backbone's last three stages are each projected by 1x1 conv + GroupNorm + ReLU to 128, 256 and
512 channels, resized (bilinear) to the deepest one's resolution, concatenated (896 ch) and mapped
by a final 1x1 conv to 448 channels. The final conv has no bias: it would cancel in f_i - f_j.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from wsss.models.backbones import Backbone, build_backbone, load_backbone_state, resize_bilinear
from wsss.training.param_groups import GroupRule, lr_groups

PROJECTION_CHANNELS = (128, 256, 512)  # for the backbone's third-to-last, second-to-last and last stage
FEATURE_CHANNELS = 448


def conv1x1_gn_relu(in_channels: int, out_channels: int, groups: int = 4) -> nn.Sequential:
    """1x1 conv (no bias) -> GroupNorm -> ReLU; GroupNorm because affinity batches are small (IRN)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False),
        nn.GroupNorm(groups, out_channels),
        nn.ReLU(inplace=True),
    )


class AffinityNet(nn.Module):
    """Backbone -> multi-level 1x1 projections -> 448-channel affinity features at the finest of the three stages.

    The finest of the last three stages is stride 8 for ResNet / MobileNetV2 at output stride 16
    (PSA's stride) and stride 4 for smallnet, whose 128-px images would otherwise give a graph too
    coarse for a random walk (objects only 3-10 nodes wide); IRN likewise predicts at stride 4.
    """

    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        if len(backbone.stage_channels) < 3:
            raise ValueError(f"AffinityNet needs >= 3 backbone stages, {backbone.name} has {len(backbone.stage_channels)}")
        self.backbone = backbone
        self.projections = nn.ModuleList(
            conv1x1_gn_relu(c_in, c_out) for c_in, c_out in zip(backbone.stage_channels[-3:], PROJECTION_CHANNELS)
        )
        self.fuse = nn.Conv2d(sum(PROJECTION_CHANNELS), FEATURE_CHANNELS, kernel_size=1, bias=False)
        for projection in self.projections:
            nn.init.kaiming_normal_(projection[0].weight, mode="fan_out", nonlinearity="relu")
        nn.init.xavier_uniform_(self.fuse.weight)
        self.mean, self.std = backbone.mean, backbone.std
        self.output_stride = min(backbone.stage_strides[-3:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, 3, H, W) -> (B, 448, h, w), h, w = the finest stage's size (stride self.output_stride)
        stages = self.backbone(x)[-3:]
        size = max((f.shape[-2:] for f in stages), key=lambda s: s[0] * s[1])
        projected = [resize_bilinear(proj(f), size) for proj, f in zip(self.projections, stages)]
        return self.fuse(torch.cat(projected, dim=1)).float()  # (B, 896, h, w) -> (B, 448, h, w), fp32

    def new_modules(self) -> list[nn.Module]:
        """Layers not in the backbone (trained from scratch)."""
        return [self.projections, self.fuse]

    def param_groups(self, lr: float, rule: GroupRule = GroupRule()) -> list[dict]:
        """SGD parameter groups: backbone at lr, the new projection/fusion layers at rule.head_lr_scale x lr (PSA 10x).

        See wsss.training.param_groups.lr_groups for the rule's bias and head-stage options.
        """
        return lr_groups(self.backbone.stages, self.new_modules(), lr, rule)

    def load_backbone_from_classifier(self, classifier_state_dict: Mapping[str, torch.Tensor]):
        """Initialise the backbone from a trained Classifier's state dict (its ``backbone.*`` entries)."""
        return load_backbone_state(self.backbone, classifier_state_dict)


def build_affinitynet(
    backbone_name: str,
    *,
    pretrained: bool = False,
    output_stride: int | None = None,
    allow_download: bool = False,
) -> AffinityNet:
    """An AffinityNet on ``build_backbone(backbone_name, ...)`` (output_stride None: the backbone's default)."""
    backbone = build_backbone(backbone_name, pretrained=pretrained, output_stride=output_stride,
                              allow_download=allow_download)
    return AffinityNet(backbone)

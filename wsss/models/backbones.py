"""Backbones: a stack of stages whose outputs (deepest last) feed the classifier, AffinityNet and DeepLab.

Every backbone maps (B, 3, H, W) images, normalised with its ``mean``/``std``, to a list of stage
feature maps; ``stage_channels[i]`` and ``stage_strides[i]`` describe output i and
``output_stride == stage_strides[-1]``. Deep stages keep their resolution through dilation
(DeepLab, Chen et al. TPAMI 2017) instead of striding once the requested output stride is reached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.mobilenetv2 import InvertedResidual

from wsss.weights import KNOWN_WEIGHTS, require_checkpoint

BACKBONES = ("smallnet", "resnet50", "resnet101", "mobilenet_v2")
DEFAULT_OUTPUT_STRIDE = {"smallnet": 8, "resnet50": 16, "resnet101": 16, "mobilenet_v2": 16}
SUPPORTED_OUTPUT_STRIDES = {"smallnet": (8, 16), "resnet50": (8, 16, 32), "resnet101": (8, 16, 32),
                            "mobilenet_v2": (8, 16, 32)}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resize_bilinear(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to (B, C, *size), align_corners=False; a no-op at equal size."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def load_backbone_state(backbone: Backbone, state_dict: Mapping[str, torch.Tensor], prefix: str = "backbone."):
    """Load the ``prefix``-ed entries of a whole-model state dict into ``backbone`` (strict: all keys must match)."""
    sub = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not sub:
        raise ValueError(f"state dict has no '{prefix}*' entries (keys start with: {sorted(state_dict)[:3]}...)")
    return backbone.load_state_dict(sub, strict=True)


class Backbone(nn.Module):
    """Stages run in sequence; ``forward`` returns every stage's output, deepest last."""

    def __init__(
        self,
        name: str,
        stages: Sequence[nn.Module],
        stage_channels: Sequence[int],
        stage_strides: Sequence[int],
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        if not len(stages) == len(stage_channels) == len(stage_strides):
            raise ValueError(f"{name}: {len(stages)} stages but {len(stage_channels)} channels / {len(stage_strides)} strides")
        self.name = name
        self.stages = nn.ModuleList(stages)
        self.stage_channels = list(stage_channels)
        self.stage_strides = list(stage_strides)
        self.output_stride = self.stage_strides[-1]
        self.mean = tuple(mean)
        self.std = tuple(std)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # x: (B, 3, H, W) -> [(B, stage_channels[i], ~H / stage_strides[i], ~W / stage_strides[i])]
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def extra_repr(self) -> str:
        return f"name={self.name!r}, stage_channels={self.stage_channels}, output_stride={self.output_stride}"


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 conv (padding = dilation, no bias) -> BatchNorm -> ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def smallnet(output_stride: int = 8, width: int = 16) -> Backbone:
    """Small 4-stage Conv-BN-ReLU net (width x 1/2/4/8 channels; ~0.3M params at width 16) for CPU runs.

    Narrow on purpose: on 2 CPU cores, many cheap optimisation steps teach it more than a few
    expensive ones when it trains from scratch. No pretrained weights.
    """
    channels = (width, 2 * width, 4 * width, 8 * width)
    # stage i: conv(stride s, dilation d) -> conv(stride 1, dilation d); at OS 8 the last stage dilates.
    strides = (2, 2, 2, 1) if output_stride == 8 else (2, 2, 2, 2)
    dilations = (1, 1, 1, 2) if output_stride == 8 else (1, 1, 1, 1)
    stages, stage_strides, in_channels, total = [], [], 3, 1
    for out_channels, stride, dilation in zip(channels, strides, dilations):
        stages.append(nn.Sequential(conv_bn_relu(in_channels, out_channels, stride, dilation),
                                    conv_bn_relu(out_channels, out_channels, 1, dilation)))
        total *= stride
        stage_strides.append(total)
        in_channels = out_channels
    backbone = Backbone("smallnet", stages, channels, stage_strides)
    for module in backbone.modules():  # deterministic given torch.manual_seed
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    return backbone


def _pretrained_weights(name: str, pretrained: bool, allow_download: bool):
    """The torchvision weights enum member to load (checked present in the hub cache), or None."""
    if not pretrained:
        return None
    weights = KNOWN_WEIGHTS[name]
    require_checkpoint(weights, allow_download=allow_download)
    return weights


def resnet(name: str, *, pretrained: bool = False, output_stride: int = 16, allow_download: bool = False) -> Backbone:
    """torchvision ResNet-50/101 (He et al. CVPR 2016): stages conv1..layer1, layer2, layer3, layer4."""
    dilate = {32: [False, False, False], 16: [False, False, True], 8: [False, True, True]}[output_stride]
    weights = _pretrained_weights(name, pretrained, allow_download)
    net = getattr(torchvision.models, name)(weights=weights, replace_stride_with_dilation=dilate)
    stem = nn.Sequential(OrderedDict(conv1=net.conv1, bn1=net.bn1, relu=net.relu, maxpool=net.maxpool,
                                     layer1=net.layer1))
    stage_strides = [4, 8, min(16, output_stride), output_stride]
    return Backbone(name, [stem, net.layer2, net.layer3, net.layer4], [256, 512, 1024, 2048], stage_strides)


def _depthwise_conv(block: InvertedResidual) -> nn.Conv2d:
    """The 3x3 depthwise conv of a MobileNetV2 inverted residual block."""
    for module in block.conv.modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3) and module.groups == module.in_channels:
            return module
    raise ValueError("inverted residual block without a 3x3 depthwise conv")


def dilate_mobilenet_v2(features: nn.Sequential, output_stride: int) -> list[int]:
    """Turn strides past ``output_stride`` into dilation in place; return each feature block's output stride.

    As with torchvision's ``replace_stride_with_dilation``: the block that would have strided keeps the
    current dilation, the blocks after it use twice that; padding = dilation keeps spatial sizes.
    """
    strides, current, dilation = [], 1, 1
    for block in features:
        if not isinstance(block, InvertedResidual):  # stem conv (stride 2) and final 1x1 conv
            current *= block[0].stride[0]
            strides.append(current)
            continue
        conv = _depthwise_conv(block)
        block_dilation = dilation
        if block.stride == 2:
            if current >= output_stride:
                block.stride = 1
                conv.stride = (1, 1)
                dilation *= 2
            else:
                current *= 2
        conv.dilation = (block_dilation, block_dilation)
        conv.padding = (block_dilation, block_dilation)
        strides.append(current)
    return strides


MOBILENET_V2_STAGES = ((0, 4), (4, 7), (7, 14), (14, 19))  # features[a:b]: 24, 32, 96, 1280 channels


def mobilenet_v2(*, pretrained: bool = False, output_stride: int = 16, allow_download: bool = False) -> Backbone:
    """torchvision MobileNetV2 (Sandler et al. CVPR 2018): ``features`` split at strides 4/8/16/32 (1280-ch last)."""
    weights = _pretrained_weights("mobilenet_v2", pretrained, allow_download)
    features = torchvision.models.mobilenet_v2(weights=weights).features
    block_strides = dilate_mobilenet_v2(features, output_stride)
    stages, channels, strides = [], [], []
    for start, stop in MOBILENET_V2_STAGES:
        stages.append(nn.Sequential(OrderedDict((str(i), features[i]) for i in range(start, stop))))
        last = features[stop - 1]
        channels.append(last.out_channels)
        strides.append(block_strides[stop - 1])
    return Backbone("mobilenet_v2", stages, channels, strides)


def build_backbone(
    name: str,
    *,
    pretrained: bool = False,
    output_stride: int | None = None,
    allow_download: bool = False,
) -> Backbone:
    """Build a backbone by name (see BACKBONES); output_stride None means DEFAULT_OUTPUT_STRIDE[name].

    pretrained=True loads torchvision's ImageNet weights from the torch hub cache and raises
    wsss.weights.MissingWeightsError if the file is absent, unless allow_download=True.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    output_stride = DEFAULT_OUTPUT_STRIDE[name] if output_stride is None else int(output_stride)
    if output_stride not in SUPPORTED_OUTPUT_STRIDES[name]:
        raise ValueError(f"backbone {name!r} supports output_stride in {SUPPORTED_OUTPUT_STRIDES[name]}, "
                         f"not {output_stride}")
    if name == "smallnet":
        if pretrained:
            raise ValueError("backbone 'smallnet' has no pretrained weights: build it with pretrained=False")
        return smallnet(output_stride)
    if name in ("resnet50", "resnet101"):
        return resnet(name, pretrained=pretrained, output_stride=output_stride, allow_download=allow_download)
    return mobilenet_v2(pretrained=pretrained, output_stride=output_stride, allow_download=allow_download)

"""Backbones, the CAM classifier, AffinityNet and the DeepLab segmenter: shapes, strides and identities (CPU)."""

import math

import pytest
import torch
from torch import nn

from wsss.models.affinitynet import FEATURE_CHANNELS, build_affinitynet
from wsss.models.backbones import smallnet, BACKBONES, build_backbone, resize_bilinear
from wsss.models.classifier import build_classifier
from wsss.models.deeplab import aspp_rates, build_segmenter

torch.set_num_threads(2)

EXPECTED_CHANNELS = {
    "smallnet": [16, 32, 64, 128],
    "resnet50": [256, 512, 1024, 2048],
    "resnet101": [256, 512, 1024, 2048],
    "mobilenet_v2": [24, 32, 96, 1280],
}

STRIDE_CASES = [
    ("smallnet", 8), ("smallnet", 16),
    ("resnet50", 8), ("resnet50", 16),
    ("mobilenet_v2", 8), ("mobilenet_v2", 16),
    ("resnet101", 16),
]


@pytest.mark.parametrize("name,output_stride", STRIDE_CASES)
def test_backbone_stage_channels_and_output_stride(name, output_stride):
    torch.manual_seed(0)
    backbone = build_backbone(name, output_stride=output_stride).eval()
    with torch.no_grad():
        features = backbone(torch.randn(2, 3, 64, 64))
    assert backbone.output_stride == output_stride
    assert backbone.stage_channels == EXPECTED_CHANNELS[name]
    assert len(features) == len(backbone.stage_channels) == len(backbone.stage_strides) >= 3
    assert backbone.stage_strides[-1] == output_stride
    for f, channels, stride in zip(features, backbone.stage_channels, backbone.stage_strides):
        assert f.shape == (2, channels, 64 // stride, 64 // stride)
    assert features[-1].shape[-2:] == (64 // output_stride, 64 // output_stride)  # 8x8 at OS 8, 4x4 at OS 16


@pytest.mark.parametrize("name", BACKBONES)
def test_backbone_normalisation_constants(name):
    backbone = build_backbone(name)
    assert len(backbone.mean) == len(backbone.std) == 3
    assert backbone.mean == pytest.approx((0.485, 0.456, 0.406))
    assert backbone.std == pytest.approx((0.229, 0.224, 0.225))


def test_default_output_strides():
    assert build_backbone("smallnet").output_stride == 8
    assert build_backbone("mobilenet_v2").output_stride == 16
    assert build_backbone("resnet50").output_stride == 16


@pytest.mark.parametrize("output_stride", [8, 16])
def test_mobilenet_v2_dilation_keeps_spatial_size_on_odd_input(output_stride):
    backbone = build_backbone("mobilenet_v2", output_stride=output_stride).eval()
    for module in backbone.modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            assert module.padding == module.dilation
    with torch.no_grad():
        features = backbone(torch.randn(1, 3, 65, 67))
    # 65x67 after the four stride-2 convs that remain at OS 16 (three at OS 8), each ceil-halving
    halvings = int(math.log2(output_stride))
    height, width = 65, 67
    for _ in range(halvings):
        height, width = (height + 1) // 2, (width + 1) // 2
    assert features[-1].shape[-2:] == (height, width)
    assert features[-2].shape[-2:] == (height, width)


def test_smallnet_init_is_deterministic_given_seed():
    torch.manual_seed(123)
    a = build_backbone("smallnet").state_dict()
    torch.manual_seed(123)
    b = build_backbone("smallnet").state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_smallnet_size():
    count = sum(p.numel() for p in build_backbone("smallnet").parameters())
    assert 0.2e6 < count < 0.4e6  # width 16: 16/32/64/128 channels
    wide = sum(p.numel() for p in smallnet(width=32).parameters())
    assert 0.8e6 < wide < 1.5e6


def test_build_backbone_rejects_bad_arguments():
    with pytest.raises(ValueError, match="no pretrained weights"):
        build_backbone("smallnet", pretrained=True)
    with pytest.raises(ValueError, match="unknown backbone"):
        build_backbone("vgg16")
    with pytest.raises(ValueError, match="output_stride"):
        build_backbone("resnet50", output_stride=4)


@pytest.mark.parametrize("name,output_stride", [("smallnet", 8), ("mobilenet_v2", 16)])
def test_classifier_logits_are_gap_of_class_maps(name, output_stride):
    """The CAM identity: head(GAP(f)) == GAP(head(f)) for a bias-free linear head."""
    torch.manual_seed(0)
    model = build_classifier(name, output_stride=output_stride, num_classes=20).eval()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
        maps = model.class_maps(x)
        features = model.features(x)
    assert logits.shape == (3, 20)
    assert maps.shape == (3, 20, 64 // output_stride, 64 // output_stride)
    assert features.shape[1] == model.backbone.stage_channels[-1]
    torch.testing.assert_close(logits, maps.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)
    assert (maps < 0).any(), "class maps are raw (no ReLU)"
    assert model.head.bias is None


def test_classifier_param_groups_cover_every_parameter_once():
    model = build_classifier("smallnet", num_classes=20)
    groups = model.param_groups(0.01)
    assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.1])
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    optimizer = torch.optim.SGD(groups, lr=0.01, momentum=0.9, weight_decay=1e-4)
    loss = nn.functional.multilabel_soft_margin_loss(model(torch.randn(2, 3, 64, 64)), torch.ones(2, 20))
    loss.backward()
    optimizer.step()


@pytest.mark.parametrize("name,output_stride,feature_stride", [("smallnet", 8, 4), ("mobilenet_v2", 16, 8),
                                                                ("resnet50", 16, 8)])
def test_affinitynet_output_shape(name, output_stride, feature_stride):
    """Features come at the finest of the last three stages: PSA's stride 8 for the ImageNet nets."""
    torch.manual_seed(0)
    model = build_affinitynet(name, output_stride=output_stride)
    out = model(torch.randn(2, 3, 64, 64))
    assert model.output_stride == feature_stride
    assert out.shape == (2, FEATURE_CHANNELS, 64 // feature_stride, 64 // feature_stride)
    assert FEATURE_CHANNELS == 448
    out.abs().mean().backward()
    assert all(p.grad is not None for p in model.fuse.parameters())
    groups = model.param_groups(0.1)
    assert len({id(p) for g in groups for p in g["params"]}) == len(list(model.parameters()))


def test_affinitynet_backbone_from_classifier():
    torch.manual_seed(0)
    classifier = build_classifier("smallnet")
    torch.manual_seed(1)
    affinity = build_affinitynet("smallnet")
    affinity.load_backbone_from_classifier(classifier.state_dict())
    source = classifier.backbone.state_dict()
    target = affinity.backbone.state_dict()
    assert all(torch.equal(source[k], target[k]) for k in source)
    with pytest.raises(ValueError, match="backbone"):
        affinity.load_backbone_from_classifier({"head.weight": torch.zeros(1)})
    with pytest.raises(RuntimeError):  # a different backbone does not fit
        affinity.load_backbone_from_classifier(build_classifier("mobilenet_v2").state_dict())


@pytest.mark.parametrize("name,output_stride", [("smallnet", 8), ("mobilenet_v2", 16), ("resnet50", 8)])
def test_segmenter_logits_match_odd_input_size(name, output_stride):
    torch.manual_seed(0)
    model = build_segmenter(name, output_stride=output_stride, num_classes=21)
    x = torch.randn(2, 3, 65, 67)
    out = model(x)  # training mode: ASPP's pooling branch needs batch >= 2
    assert out.shape == (2, 21, 65, 67)
    out.mean().backward()
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 21, 65, 67)
    groups = model.param_groups(0.01)
    assert [g["lr"] for g in groups] == pytest.approx([0.01, 0.1])
    assert len({id(p) for g in groups for p in g["params"]}) == len(list(model.parameters()))


def test_segmenter_backbone_from_classifier():
    classifier = build_classifier("smallnet")
    segmenter = build_segmenter("smallnet")
    segmenter.load_backbone_from_classifier(classifier.state_dict())
    key = next(iter(classifier.backbone.state_dict()))
    assert torch.equal(segmenter.backbone.state_dict()[key], classifier.backbone.state_dict()[key])


def test_aspp_rates_scale_with_output_stride():
    assert aspp_rates(16) == (6, 12, 18)
    assert aspp_rates(8) == (12, 24, 36)


def test_resize_bilinear():
    x = torch.randn(1, 2, 4, 5)
    assert resize_bilinear(x, (4, 5)) is x
    assert resize_bilinear(x, (7, 9)).shape == (1, 2, 7, 9)

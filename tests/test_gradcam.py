import pytest
import torch
from torch import nn

from wsss.methods.base import class_attention
from wsss.methods.cam import multi_scale_class_maps
from wsss.methods.gradcam import grad_cams
from wsss.models.backbones import Backbone
from wsss.models.classifier import Classifier


def tiny_classifier() -> Classifier:
    torch.manual_seed(0)
    stage = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.ReLU())
    model = Classifier(Backbone("tiny", [stage], [4], [2]), num_classes=3)
    return model.eval()


class NonLinearHead(nn.Module):
    """features -> 1x1 conv, ReLU, 1x1 conv: head(GAP(f)) is no longer linear in f."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Sequential(nn.Conv2d(4, 5, 1), nn.ReLU(), nn.Conv2d(5, 2, 1, bias=False))

    def features(self, x):
        return self.stem(x)

    def class_maps(self, x):
        return self.head(self.features(x))


def test_gradcam_equals_cam_over_hw_for_gap_linear_head():
    model = tiny_classifier()
    images = torch.randn(2, 3, 8, 6)
    cams = model.class_maps(images).detach()  # (2, 3, 4, 3)
    h, w = cams.shape[-2:]
    maps = grad_cams(model, images)
    assert maps.shape == (2, 3, 4, 3)
    torch.testing.assert_close(maps, torch.relu(cams) / (h * w))
    assert (cams < 0).any() and maps.max() > 0  # the ReLU matters on this network


def test_gradcam_classes_subset_and_inference_mode():
    model = tiny_classifier()
    images = torch.randn(2, 3, 8, 8)
    full = grad_cams(model, images)
    with torch.inference_mode():
        subset = grad_cams(model, images, classes=[2, 0])
    with torch.no_grad():
        again = grad_cams(model, images, classes=[1])
    torch.testing.assert_close(subset.clone(), full[:, [2, 0]])
    torch.testing.assert_close(again, full[:, [1]])
    assert all(p.grad is None for p in model.parameters())  # no gradient leaks into the weights


def test_gradcam_of_nonlinear_head_differs_from_cam():
    model = NonLinearHead().eval()
    images = torch.randn(1, 3, 4, 4)
    maps = grad_cams(model, images)
    features = model.features(images).detach()  # (1, 4, 4, 4)
    first, relu, second = model.head
    hidden = first(features.mean((2, 3), keepdim=True))  # (1, 5, 1, 1) pre-activation
    # d y_c / d f_kij = sum_m W2_cm [hidden_m > 0] W1_mk / (h w), the same at every pixel
    w1 = first.weight[:, :, 0, 0]  # (5, 4)
    w2 = second.weight[:, :, 0, 0]  # (2, 5)
    alpha = (w2 * (hidden[0, :, 0, 0] > 0)) @ w1 / 16  # (2, 4)
    expected = torch.relu(torch.einsum("ck,khw->chw", alpha, features[0]))[None]
    torch.testing.assert_close(maps, expected.detach())
    cams = torch.relu(model.class_maps(images)).detach()
    ratio = maps / cams.clamp_min(1e-6)
    assert not torch.allclose(ratio, ratio.flatten()[0].expand_as(ratio))  # not a rescaled CAM


def test_class_attention_dispatch():
    model = tiny_classifier()
    images = torch.randn(1, 3, 8, 8)
    torch.testing.assert_close(class_attention(model, images, "cam"), model.class_maps(images))
    torch.testing.assert_close(class_attention(model, images, "gradcam"), grad_cams(model, images) * 16)
    with pytest.raises(ValueError, match="'scorecam'"):
        class_attention(model, images, "scorecam")


def test_multi_scale_gradcam_equals_cam_for_gap_linear_head():
    # every scale must count as it does for CAM: without the h * w factor the 0.5x input would
    # weigh 16 times the 2x one and the sum would differ from CAM's beyond a constant
    model = tiny_classifier()
    images = torch.randn(2, 3, 16, 12)
    args = dict(scales=[1.0, 0.5, 2.0], flip=True, out_sizes=[(8, 6), (16, 12)])
    for cam, gradcam in zip(multi_scale_class_maps(model, images, attention="cam", **args),
                            multi_scale_class_maps(model, images, attention="gradcam", **args)):
        torch.testing.assert_close(gradcam, cam)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gradcam_on_cuda_matches_cpu():
    model = tiny_classifier()
    images = torch.randn(2, 3, 8, 8)
    expected = grad_cams(model, images)
    with torch.inference_mode():
        maps = grad_cams(model.cuda(), images.cuda())
    torch.testing.assert_close(maps.cpu(), expected, atol=1e-5, rtol=1e-4)

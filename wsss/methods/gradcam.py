"""Grad-CAM (Selvaraju et al., ICCV 2017): class maps weighted by the gradient of the class score.

For class c, alpha_ck = (1 / hw) sum_ij d y_c / d f_kij (Eq. 1) and Grad-CAM_c = ReLU(sum_k alpha_ck f_k)
(Eq. 2). With GAP and a bias-free linear head, y_c = (1 / hw) sum_ij w_c^T f_ij, so alpha_ck = w_ck / hw
and Grad-CAM_c = ReLU(CAM_c) / hw exactly: the two differ only when the head is not linear after GAP.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from wsss.models.classifier import global_average_pool

from .base import ClassifierMethod, register


def gap_linear_logits(model) -> Callable[[torch.Tensor], torch.Tensor]:
    """The Classifier's own head as a function of its features: (B, C, h, w) -> (B, K) = head(GAP(f))."""
    return lambda features: model.head(global_average_pool(features)).flatten(1)


def gradcam_maps(features: torch.Tensor, logits: torch.Tensor, classes: Sequence[int], *,
                 create_graph: bool = False) -> torch.Tensor:
    """ReLU(sum_k alpha_ck f_k) for each class in classes: (B, len(classes), h, w) (Eq. 1-2).

    features: (B, C, h, w) with a graph to logits (B, K). create_graph=True keeps the gradient's own
    graph so a loss on the maps trains the network through it (EADER's Grad-CAM attention).
    """
    maps = []
    for i, c in enumerate(classes):
        # logit (b, c) depends on features[b] only, so one backward pass serves the whole batch
        grads, = torch.autograd.grad(logits[:, c].sum(), features, create_graph=create_graph,
                                     retain_graph=create_graph or i + 1 < len(classes))
        alpha = grads.mean(dim=(2, 3), keepdim=True)  # (B, C, 1, 1)
        maps.append(torch.relu((alpha * features).sum(1)))  # (B, h, w)
    if not maps:
        return features.new_zeros((features.shape[0], 0, *features.shape[-2:]))
    return torch.stack(maps, dim=1)


def grad_cams(model, images: torch.Tensor, classes: Sequence[int] | None = None, *,
              logits_fn: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Raw Grad-CAMs (B, len(classes) or K, h, w) at the feature map's resolution, ReLU'd, not normalised.

    model: exposes ``features(x) -> (B, C, h, w)`` and ``head`` (see Classifier); logits_fn maps the
    features to (B, K) logits, by default head(GAP(f)). Gradients are taken with respect to the
    features only (the backbone runs without a graph), so this works inside torch.no_grad or
    torch.inference_mode code too. The model's train/eval mode is left as the caller set it.
    """
    logits_fn = logits_fn or gap_linear_logits(model)
    with torch.no_grad():
        features = model.features(images)  # (B, C, h, w)
    with torch.inference_mode(False), torch.enable_grad():
        features = features.detach().clone().requires_grad_(True)  # a normal tensor even from inference mode
        logits = logits_fn(features)  # (B, K)
        classes = range(logits.shape[1]) if classes is None else classes
        return gradcam_maps(features, logits, list(classes)).detach()


@register("gradcam")
class GradCAM(ClassifierMethod):
    """cams.attention gradcam: h * w * grad_cams(model, images), raw (B, K, h, w) maps on CAM's scale.

    Eq. 1's spatial mean puts a factor 1 / (h w) on every Grad-CAM, so in a multi-scale sum the 0.5x
    input would count 16 times more than the 2x one. Multiplying by h * w (the spatial sum of the
    gradients instead of their mean) gives each scale the weight it has for CAM, and Grad-CAM equals
    ReLU(CAM) exactly for a GAP + linear head. One map's max-normalised form is unchanged.
    """

    trains = False
    attention_choice = True

    def attention(self, model, images: torch.Tensor) -> torch.Tensor:
        maps = grad_cams(model, images)
        return maps * (maps.shape[-2] * maps.shape[-1])

"""EADER: end-to-end adversarial erasing (Stammes, Runia, Hofmann, Ghafoorian, 2021).

A localizer (a CAM classifier) and an adversarial classifier train in turns, `switch_every` steps
each, the localizer first. For every (image, labelled class) pair the localizer's attention A (its
CAM or Grad-CAM for that class, normalised to [0, 1] at image size: see NORMALISATIONS) gives a soft mask
M = sigmoid(omega * (A - sigma)); the adversary sees the image with the object erased, x * (1 - M).
- Adversary step: it learns to classify the erased images (BCE against the image's own labels).
- Localizer step: BCE on the image + alpha * (the adversary's probability for the erased class:
  attention mining, which pushes A to cover all the evidence) + beta * mean(A) (keeps A small).
Gradients reach only the network whose turn it is; CAMs for later stages come from the localizer.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .base import LOCALIZER, ClassifierMethod, classification_loss, register
from .cam import max_normalise
from .gradcam import gradcam_maps


def soft_mask(attention: torch.Tensor, omega: float = 100.0, sigma: float = 0.5) -> torch.Tensor:
    """sigmoid(omega * (A - sigma)): a differentiable threshold of a normalised attention map."""
    return torch.sigmoid(omega * (attention - sigma))


def erase(images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """images * (1 - mask): (N, C, H, W) normalised images, (N, 1, H, W) masks in [0, 1].

    Erased pixels become 0, the dataset mean colour after normalisation.
    """
    return images * (1.0 - mask)


def labelled_pairs(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(image index, class index) of every positive label in a (B, C) multi-hot matrix."""
    image_index, class_index = labels.nonzero(as_tuple=True)
    return image_index, class_index


#: The phase in which the adversary trains on the images the localizer's attention erased.
ADVERSARY = "adversary"


def phase(iteration: int, switch_every: int) -> str:
    """'localizer' for the first switch_every iterations, then 'adversary', and so on in turns."""
    return LOCALIZER if (iteration // switch_every) % 2 == 0 else ADVERSARY


def pair_class_maps(features: torch.Tensor, cams: torch.Tensor, logits: torch.Tensor,
                    image_index: torch.Tensor, class_index: torch.Tensor, method: str) -> torch.Tensor:
    """Raw attention of each (image, class) pair, (N, h, w): its CAM, or its Grad-CAM.

    The Grad-CAM keeps the gradient's graph so the localizer learns through it; for a GAP + linear
    head it equals ReLU(CAM) / (h*w), the same map once max-normalised.
    """
    if method == "cam":
        return cams[image_index, class_index]
    if method != "gradcam":
        raise ValueError(f"unknown attention {method!r} (expected 'cam' or 'gradcam')")
    classes = class_index.unique()
    maps = gradcam_maps(features, logits, classes.tolist(), create_graph=True)  # (B, len(classes), h, w)
    return maps[image_index, torch.searchsorted(classes, class_index)]


#: How the attention is normalised (classifier.eader.normalisation):
#: - "relu_max": ReLU and max-normalise at the network's resolution, then resize (this package's);
#: - "min_max": resize the raw map, then shift its min to 0 and divide by the shifted max unless that is
#:   0 (EADER attention_map_wrapper.py:101-107 for CAM, 62-69 for Grad-CAM, which is ReLU'd first).
NORMALISATIONS = ("relu_max", "min_max")


def min_max_normalise(maps: torch.Tensor) -> torch.Tensor:
    """(maps - min) / max(maps - min) over each (..., H, W) map; a constant map becomes all zero."""
    shifted = maps - maps.flatten(-2).amin(-1)[..., None, None]
    peak = shifted.flatten(-2).amax(-1)[..., None, None]
    return shifted / torch.where(peak != 0, peak, torch.ones_like(peak))


def normalised_attention(maps: torch.Tensor, size, normalisation: str = "relu_max") -> torch.Tensor:
    """(N, h, w) raw maps -> (N, 1, H, W) attention in [0, 1] at the image size, by NORMALISATIONS."""
    size = tuple(size)
    if normalisation == "relu_max":
        return F.interpolate(max_normalise(maps)[:, None], size=size, mode="bilinear", align_corners=False)
    if normalisation == "min_max":
        return min_max_normalise(F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False))
    raise ValueError(f"unknown attention normalisation {normalisation!r} (expected one of {', '.join(NORMALISATIONS)})")


def attention_mining_loss(adversary_logits: torch.Tensor, class_index: torch.Tensor,
                          multilabel: bool = True) -> torch.Tensor:
    """Mean adversary probability of each erased pair's own class: high when erasing missed evidence.

    The probability is the class's sigmoid (multi-label) or its softmax share (single-label)."""
    probs = torch.sigmoid(adversary_logits) if multilabel else torch.softmax(adversary_logits, dim=1)
    return probs.gather(1, class_index[:, None]).mean()


@contextmanager
def frozen(module: nn.Module):
    """Run a forward pass whose graph gives this module's parameters no gradient."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


class LocalizerAdversary(nn.Module):
    """The two EADER networks, trained with one optimiser whose groups only step on their turn."""

    def __init__(self, localizer: nn.Module, adversary: nn.Module) -> None:
        super().__init__()
        self.localizer = localizer
        self.adversary = adversary

    def param_groups(self, lr: float, adversary_lr: float, rule=None) -> list[dict]:
        """The localizer's groups at lr, the adversary's at adversary_lr (names prefixed), both split by
        rule (a wsss.training.param_groups.GroupRule; None: its default). EADER's train.py:81-88 gives
        each network one group at its own lr (head_lr_scale 1)."""
        kwargs = {} if rule is None else {"rule": rule}
        groups = [{**g, "name": f"localizer_{g['name']}"} for g in self.localizer.param_groups(lr, **kwargs)]
        groups += [{**g, "name": f"adversary_{g['name']}"}
                   for g in self.adversary.param_groups(adversary_lr, **kwargs)]
        return groups


def erased_pairs(features, cams, logits, images, labels, settings: dict):
    """Each (image, labelled class) pair's image with the localizer's attention erased.

    features (B, C, h, w), cams (B, K, h, w) and logits (B, K) of the localizer on images (B, 3, H, W);
    settings: attention, normalisation, omega, sigma. Returns (erased images (N, 3, H, W), class index
    (N,), image index (N,), attention (N, 1, H, W)).
    """
    image_index, class_index = labelled_pairs(labels)
    maps = pair_class_maps(features, cams, logits, image_index, class_index, settings["attention"])
    attention = normalised_attention(maps, images.shape[-2:], settings["normalisation"])
    mask = soft_mask(attention, settings["omega"], settings["sigma"])
    return erase(images[image_index], mask), class_index, image_index, attention


@register("eader")
class EADER(ClassifierMethod):
    """The classifier becomes the localizer of a LocalizerAdversary; the two train in turns.

    Localizer's turn: + alpha * attention mining + beta * mean(A), A from the shared forward's (whole
    image's) maps. Adversary's turn: only its L_cls on the erased images. The saved model is the
    localizer; the adversary's weights go beside it.
    """

    defaults = {"omega": 100.0, "sigma": 0.5, "alpha": 0.05, "beta": 1.0e-5, "switch_every": 200,
                "attention": "cam", "normalisation": "relu_max", "adversary_lr_scale": 1.0}

    def build(self, network, make_classifier):
        return LocalizerAdversary(network, make_classifier())

    def localizer(self, trained):
        return trained.localizer

    def param_groups(self, trained, lr, rule):
        return trained.param_groups(lr, lr * self.settings["adversary_lr_scale"], rule)

    def checkpoint_extras(self, trained):
        return {"adversary_state_dict": trained.adversary.cpu().state_dict()}

    def phase(self, step):
        return phase(step.iteration, self.settings["switch_every"])

    def phase_loss(self, turn, trained, images, labels, step):
        """The adversary's turn: classify the images erased by the (fixed) localizer's attention."""
        if turn != ADVERSARY:
            raise ValueError(f"EADER has no phase {turn!r}")
        features = trained.localizer.features(images)
        cams = trained.localizer.head(features)
        erased, _, image_index, _ = erased_pairs(features, cams, cams.mean(dim=(2, 3)), images, labels,
                                                 self.settings)
        loss = classification_loss(trained.adversary(erased.detach()), labels[image_index], self.multilabel)
        return loss, {"adversary": loss.item()}

    def add_loss_terms(self, loss, forward, step):
        settings = self.settings
        erased, class_index, _, attention = erased_pairs(forward.features, forward.cams, forward.logits,
                                                         forward.images, forward.labels, settings)
        with frozen(forward.trained.adversary):
            adversary_logits = forward.trained.adversary(erased)
        mining = attention_mining_loss(adversary_logits, class_index, self.multilabel)
        area = attention.mean()
        loss = loss + settings["alpha"] * mining + settings["beta"] * area
        return loss, {"mining": mining.item(), "area": area.item()}

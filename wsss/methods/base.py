"""The interface of a method, and the registry that finds methods by name.

A method is one ClassifierMethod subclass: how it changes the classifier's training (the networks it
builds, its loss terms for a step, its phase schedule, the batch it trains on) and the class maps it
gives at inference. wsss.training.classifier composes an experiment's list of training methods;
class_attention gives the maps of the method named by cams.attention. Every hook has a default that
does nothing, so a method overrides only what it changes. The registry's table of names and files
is wsss.methods.MODULES; the walkthrough is docs/adding-a-method.md.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from . import MODULES

#: The phase in which the classifier (EADER's localizer) trains with every listed method's terms.
LOCALIZER = "localizer"


def classification_loss(logits: torch.Tensor, labels: torch.Tensor, multilabel: bool = True) -> torch.Tensor:
    """L_cls of (B, C) logits: multi-label soft margin (mean per-class BCE) against multi-hot labels, or
    the softmax cross-entropy against one-hot labels (single-label data)."""
    if multilabel:
        return F.multilabel_soft_margin_loss(logits, labels)
    return F.cross_entropy(logits, labels.argmax(dim=1))


@dataclass(frozen=True)
class Forward:
    """The shared forward pass of a training step, which every method's loss terms read.

    trained: the module the optimiser trains (the classifier, or networks built around it);
    localizer: the classifier whose class maps are the CAMs; images (B, 3, H, W) and labels (B, K) of
    the batch; features (B, C, h, w) of the last stage; cams (B, K, h, w) raw class maps; logits (B, K),
    the GAP of the maps.
    """

    trained: nn.Module
    localizer: nn.Module
    images: torch.Tensor
    labels: torch.Tensor
    features: torch.Tensor
    cams: torch.Tensor
    logits: torch.Tensor


class ClassifierMethod:
    """One method; an instance holds its settings (the config section classifier.<name>) for a run.

    Class attributes say what it is: `trains` (listed in classifier.methods), `regulariser` (a
    regulariser of the logits: its classification_loss replaces L_cls, so at most one is listed),
    `attention_choice` (offered as cams.attention), `defaults` (its settings' defaults, equal to the
    schema's for classifier.<name>). `name` is set by @register.
    """

    name: ClassVar[str] = ""
    defaults: ClassVar[dict] = {}
    trains: ClassVar[bool] = True
    regulariser: ClassVar[bool] = False
    attention_choice: ClassVar[bool] = False

    def __init__(self, settings: dict | None = None, *, multilabel: bool = True) -> None:
        settings = dict(settings or {})
        unknown = sorted(set(settings) - set(self.defaults))
        if unknown:
            raise ValueError(f"classifier.{self.name}: unknown settings {unknown} "
                             f"(known: {', '.join(self.defaults) or 'none'})")
        self.settings = {**copy.deepcopy(self.defaults), **settings}
        self.multilabel = multilabel

    # --- networks ---
    def build(self, network: nn.Module, make_classifier) -> nn.Module:
        """The module to train, given the network so far (the classifier, or what an earlier method built
        around it); make_classifier() returns a new classifier like it (e.g. EADER's adversary)."""
        return network

    def localizer(self, trained: nn.Module) -> nn.Module:
        """Inverse of build: the network that build was given, found in the module it returned."""
        return trained

    def param_groups(self, trained: nn.Module, lr: float, rule) -> list[dict] | None:
        """The optimiser's groups for the module build returned, or None for its own param_groups(lr, rule)."""
        return None

    def checkpoint_extras(self, trained: nn.Module) -> dict:
        """Entries besides the classifier's weights for the saved model (e.g. {'adversary_state_dict': ...})."""
        return {}

    # --- schedule ---
    def phase(self, step) -> str:
        """Which network trains at this step (a wsss.training.loop.Step): LOCALIZER, or another phase whose
        loss phase_loss gives instead of the shared forward's."""
        return LOCALIZER

    def phase_loss(self, phase: str, trained: nn.Module, images: torch.Tensor, labels: torch.Tensor, step):
        """(loss, parts) of a step in a phase other than LOCALIZER; a method whose phase() returns one
        implements it."""
        raise NotImplementedError(f"method {self.name!r} has phase {phase!r} but no phase_loss for it")

    # --- loss ---
    def transform_batch(self, images: torch.Tensor, labels: torch.Tensor, step):
        """The (images, labels) the localizer's step trains on, from the loaded batch (unchanged here)."""
        return images, labels

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor):
        """(loss, parts) that replaces L_cls; a method with regulariser = True implements it."""
        raise NotImplementedError(f"method {self.name!r} is not a regulariser of the logits")

    def add_loss_terms(self, loss: torch.Tensor, forward: Forward, step):
        """(loss with this method's terms added, {part: float}) for the localizer's step."""
        return loss, {}

    # --- inference ---
    def attention(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        """Raw (B, K, h, w) class maps of a trained classifier at inference: its CAMs unless overridden."""
        return model.class_maps(images)


class Registry(Mapping):
    """Method name -> ClassifierMethod subclass. Looking a name of MODULES up imports its module, whose
    @register fills the entry. Methods registered outside the table (a test's own) come after it."""

    def __init__(self) -> None:
        self._classes: dict[str, type[ClassifierMethod]] = {}

    def register(self, name: str):
        """Class decorator: register a ClassifierMethod subclass under name."""

        def decorate(cls: type[ClassifierMethod]) -> type[ClassifierMethod]:
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"method {name!r} is registered twice ({self._classes[name].__qualname__}, "
                                 f"{cls.__qualname__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return decorate

    def __getitem__(self, name: str) -> type[ClassifierMethod]:
        if name not in self._classes and name in MODULES:
            module = MODULES[name][0]
            importlib.import_module(f"{__package__}.{module}")
            if name not in self._classes:
                raise LookupError(f"wsss/methods/{module}.py registers no method {name!r} (wsss.methods.MODULES)")
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*MODULES, *self._classes]))

    def __len__(self) -> int:
        return len(dict.fromkeys([*MODULES, *self._classes]))


METHODS = Registry()
register = METHODS.register


def get_method(name: str) -> type[ClassifierMethod]:
    """The method class registered under name; a ValueError names the known ones otherwise."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r} (known: {', '.join(METHODS)})")
    return METHODS[name]


def training_methods() -> list[str]:
    """Names that classifier.methods may list, in the order their loss terms add."""
    return [name for name in METHODS if METHODS[name].trains]


def attention_methods() -> list[str]:
    """Names that cams.attention may take."""
    return [name for name in METHODS if METHODS[name].attention_choice]


def class_attention(model: nn.Module, images: torch.Tensor, method: str) -> torch.Tensor:
    """Raw (B, K, h, w) class maps of the attention method named by cams.attention (its attention hook)."""
    choices = attention_methods()
    if method not in choices:
        raise ValueError(f"unknown attention method {method!r}; expected one of {', '.join(choices)}")
    return METHODS[method]().attention(model, images)

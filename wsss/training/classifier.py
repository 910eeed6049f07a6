"""The classifier's training for an experiment's list of methods (classifier.methods), composed through
the method interface (wsss.methods.base): the networks they build, their phases and their loss terms.

A step of the localizer's phase (every step, unless a method such as EADER takes its turn) runs one
shared forward of the classifier, the localizer: features, raw class maps and their GAP logits. L_cls is
the multi-label soft margin of the logits (the softmax cross-entropy for single-label data such as
CUB), or the listed regulariser of the logits' loss in its place (at most one: entropy,
label_smoothing, confidence_penalty). Then every listed method adds its terms, in the registry's
order (wsss.methods.MODULES): Puzzle-CAM's L_p-cls + alpha(t) L_re, EADER's attention mining and
area, the latter from the whole image's maps when both are listed. A step of another phase (EADER's
adversary) is that method's loss alone.
"""

from __future__ import annotations

from ..methods.base import LOCALIZER, METHODS, ClassifierMethod, Forward, training_methods
from ..methods.entropy import regularised_classification_loss


def listed_methods(names, *, multilabel: bool = True, **sections) -> list[ClassifierMethod]:
    """The methods of a classifier.methods list, each with its settings, in the registry's order.

    sections: the classifier config's sections by method name (a missing one: the method's defaults).
    Raises ValueError for a name that is not a training method, or for more than one regulariser.
    """
    known = training_methods()
    unknown = set(names) - set(known)
    if unknown:
        raise ValueError(f"unknown classifier methods {sorted(unknown)} (known: {', '.join(known)})")
    regularisers = [name for name in names if METHODS[name].regulariser]
    if len(regularisers) > 1:
        raise ValueError(f"at most one classifier regulariser at a time, got {regularisers}")
    return [METHODS[name](sections.get(name), multilabel=multilabel) for name in known if name in names]


def build_networks(methods, classifier, make_classifier):
    """The module to train: the classifier, passed through each method's build in order."""
    network = classifier
    for method in methods:
        network = method.build(network, make_classifier)
    return network


def localizer_of(methods, trained):
    """The classifier inside the module build_networks returned (each method's build undone, last first)."""
    for method in reversed(methods):
        trained = method.localizer(trained)
    return trained


def network_param_groups(methods, trained, lr: float, rule) -> list[dict]:
    """The optimiser's groups: those of the last method that gives its own, else trained.param_groups."""
    for method in reversed(methods):
        groups = method.param_groups(trained, lr, rule)
        if groups is not None:
            return groups
    return trained.param_groups(lr, rule)


def checkpoint_extras(methods, trained) -> dict:
    """Every method's entries for the saved model besides the classifier's weights."""
    extras = {}
    for method in methods:
        extras.update(method.checkpoint_extras(trained))
    return extras


def classifier_loss(names, *, multilabel: bool = True, **sections):
    """loss_fn(trained, (images, labels), step) -> (loss, {part: float}) for a classifier.methods list.

    trained: the module build_networks made for the same list. sections: as for listed_methods.
    multilabel False: labels are one-hot and every classification term is a softmax cross-entropy.
    """
    methods = listed_methods(names, multilabel=multilabel, **sections)
    regulariser = next((method for method in methods if method.regulariser), None)

    def loss_fn(trained, batch, step):
        images, labels = batch
        for method in methods:
            phase = method.phase(step)
            if phase != LOCALIZER:
                return method.phase_loss(phase, trained, images, labels, step)
        for method in methods:
            images, labels = method.transform_batch(images, labels, step)
        localizer = localizer_of(methods, trained)
        features = localizer.features(images)
        cams = localizer.head(features)               # (B, C, h, w) raw class maps
        logits = cams.mean(dim=(2, 3))                # GAP of the maps == head(GAP(features))
        if regulariser is None:
            loss, parts = regularised_classification_loss(logits, labels, kind="none", lam=0.0, multilabel=multilabel)
        else:
            loss, parts = regulariser.classification_loss(logits, labels)
        forward = Forward(trained, localizer, images, labels, features, cams, logits)
        for method in methods:
            loss, terms = method.add_loss_terms(loss, forward, step)
            parts.update(terms)
        return loss, parts

    return loss_fn

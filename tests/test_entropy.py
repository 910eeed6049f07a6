import math

import pytest
import torch
import torch.nn.functional as F

from wsss.methods.entropy import (
    confidence_penalty,
    entropy,
    kl_uniform,
    regularised_classification_loss,
    smooth_labels,
)

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])  # (B=2, K=3)


def test_kl_uniform_multilabel_matches_binary_pairs():
    p = torch.sigmoid(LOGITS)
    # KL((1/2, 1/2) || (p, 1 - p)) per class, averaged over classes and images
    direct = (0.5 * torch.log(0.5 / p) + 0.5 * torch.log(0.5 / (1 - p))).mean()
    torch.testing.assert_close(kl_uniform(LOGITS, multilabel=True), direct)
    # one value by hand: z = 2 -> -log 2 - (log s(2) + log s(-2)) / 2
    by_hand = -math.log(2) - 0.5 * (math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(2))))
    assert kl_uniform(torch.tensor([[2.0]]), True).item() == pytest.approx(by_hand, rel=1e-6)


def test_kl_uniform_single_label_matches_distributions():
    u = torch.distributions.Categorical(probs=torch.full((2, 3), 1 / 3))
    p = torch.distributions.Categorical(logits=LOGITS)
    direct = torch.distributions.kl_divergence(u, p).mean()
    torch.testing.assert_close(kl_uniform(LOGITS, multilabel=False), direct)


def test_kl_uniform_zero_at_uniform_prediction():
    assert kl_uniform(torch.zeros(3, 4), True).item() == pytest.approx(0.0, abs=1e-7)
    assert kl_uniform(torch.full((3, 4), 5.0), False).item() == pytest.approx(0.0, abs=1e-6)
    assert kl_uniform(LOGITS, True).item() > 0


def test_kl_uniform_is_finite_for_large_logits():
    value = kl_uniform(torch.tensor([[200.0, -200.0]]), True)
    assert torch.isfinite(value)
    assert value.item() == pytest.approx(-math.log(2) + 100.0, rel=1e-6)  # -log2 - (0 + -200) / 2


def test_entropy_and_confidence_penalty():
    p = torch.sigmoid(LOGITS)
    binary = (-(p * p.log() + (1 - p) * (1 - p).log())).mean()
    torch.testing.assert_close(entropy(LOGITS, True), binary)
    softmax = torch.distributions.Categorical(logits=LOGITS).entropy().mean()
    torch.testing.assert_close(entropy(LOGITS, False), softmax)
    torch.testing.assert_close(confidence_penalty(LOGITS, False), -softmax)
    assert entropy(torch.zeros(1, 5), True).item() == pytest.approx(math.log(2))
    assert entropy(torch.zeros(1, 5), False).item() == pytest.approx(math.log(5))


def test_smooth_labels_values():
    labels = torch.tensor([[1.0, 0.0, 0.0, 1.0]])
    torch.testing.assert_close(smooth_labels(labels, 0.1, True), torch.tensor([[0.95, 0.05, 0.05, 0.95]]))
    torch.testing.assert_close(smooth_labels(torch.tensor([[0.0, 1.0, 0.0]]), 0.3, False),
                               torch.tensor([[0.1, 0.8, 0.1]]))


def test_regularised_loss_kinds_multilabel():
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    base = F.multilabel_soft_margin_loss(LOGITS, labels)
    loss, parts = regularised_classification_loss(LOGITS, labels, kind="none", lam=0.5)
    torch.testing.assert_close(loss, base)
    assert parts == {"cls": pytest.approx(base.item())}
    loss, parts = regularised_classification_loss(LOGITS, labels, kind="entropy", lam=0.5)
    torch.testing.assert_close(loss, base + 0.5 * kl_uniform(LOGITS, True))
    assert parts["entropy"] == pytest.approx(kl_uniform(LOGITS, True).item())
    loss, _ = regularised_classification_loss(LOGITS, labels, kind="confidence_penalty", lam=0.5)
    torch.testing.assert_close(loss, base - 0.5 * entropy(LOGITS, True))
    loss, _ = regularised_classification_loss(LOGITS, labels, kind="label_smoothing", lam=0.2)
    # targets 0.9 / 0.1: mean binary cross-entropy of sigmoid(z) against them
    p = torch.sigmoid(LOGITS)
    t = labels * 0.8 + 0.1
    torch.testing.assert_close(loss, (-(t * p.log() + (1 - t) * (1 - p).log())).mean())


def test_regularised_loss_single_label_and_gradient():
    logits = LOGITS.clone().requires_grad_(True)
    index = torch.tensor([0, 1])
    loss, _ = regularised_classification_loss(logits, index, kind="label_smoothing", lam=0.3, multilabel=False)
    torch.testing.assert_close(loss, F.cross_entropy(LOGITS, index, label_smoothing=0.3))
    loss, _ = regularised_classification_loss(logits, index, kind="entropy", lam=1.0, multilabel=False)
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="'focal'"):
        regularised_classification_loss(LOGITS, torch.zeros(2, 3), kind="focal", lam=0.1)

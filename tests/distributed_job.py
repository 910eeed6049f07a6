"""A small training job for tests/test_distributed.py, at module level so that launch() can spawn it."""

import torch
from torch import nn

from test_training import Noisy
from wsss.training.loop import Schedule, fit


class Images(Noisy):
    """(3, 8, 8) images and a 2-value target that depend on (epoch, index), as the augmenting crops do."""

    def __init__(self, n=16):
        super().__init__(n)

    def __getitem__(self, index):
        g = torch.Generator().manual_seed(1000 * self.epoch + index)
        x = torch.randn(3, 8, 8, generator=g)
        return x, torch.stack([x.mean(), x[0].abs().mean()])


def mse(model, batch, step):
    images, target = batch
    loss = nn.functional.mse_loss(model(images), target)
    return loss, {"half": 0.5 * loss.item()}


def train(device, state_path, *, epochs=2, batch_size=8, accumulate=1, num_workers=0, momentum=0.9):
    """Train a BatchNorm-free conv net; returns (history, parameters as CPU tensors)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    schedule = Schedule(epochs=epochs, batch_size=batch_size, lr=0.05, optimizer="sgd", momentum=momentum)
    history = fit(model, Images(), mse, schedule=schedule, param_groups=[{"params": list(model.parameters())}],
                  state_path=state_path, digest="d", device=device, seed=1, progress=False, log=lambda *_: None,
                  accumulate=accumulate, num_workers=num_workers)
    return history, [p.detach().cpu().clone() for p in model.parameters()]

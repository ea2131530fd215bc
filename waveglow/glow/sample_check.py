"""Do class-conditional samples show their class? Classifiers fitted on real images, applied to samples.

Two judges, both trained only on real training images:
  NearestClassMean  assigns the class whose mean training image is closest (Euclidean); no training loop.
  SmallConvNet      conv(16) -> pool -> conv(32) -> pool -> linear, trained with Adam for a fixed step budget.
Accuracy on samples generated for class y, compared with chance (1 / n_classes) and with the judge's accuracy on
real test images, says how well samples follow their class.
"""
from __future__ import annotations

import torch
from torch import nn


class NearestClassMean:
    """Nearest class mean on flattened [0, 1] images [N, C, H, W]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, n_classes: int):
        flat = images.flatten(1).double()
        self.means = torch.stack([flat[labels == k].mean(0) for k in range(n_classes)])

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cdist(images.flatten(1).double(), self.means).argmin(1)


class SmallConvNet(nn.Module):
    """[B, C, H, W] in [0, 1] -> logits [B, n_classes]; H and W divisible by 4."""

    def __init__(self, channels: int, height: int, width: int, n_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(32 * (height // 4) * (width // 4), n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x - 0.5).flatten(1))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        self.eval()
        return torch.cat([self(images[i: i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)])


def train_small_convnet(images: torch.Tensor, labels: torch.Tensor, n_classes: int, steps: int = 1500,
                        batch_size: int = 128, lr: float = 2e-3, seed: int = 0) -> SmallConvNet:
    """A SmallConvNet fitted on real images [N, C, H, W] in [0, 1] with labels [N]."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = SmallConvNet(*images.shape[1:], n_classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(steps):
        idx = torch.randint(len(images), (batch_size,), generator=generator)
        loss = nn.functional.cross_entropy(net(images[idx]), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return net.eval()


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predicted == labels).double().mean())

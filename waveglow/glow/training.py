"""Training and evaluating an image Glow on in-memory image tensors (small data sets: digits, MNIST-like), the
baselines its bits/dim are compared with, and the judges of its class-conditional samples.

Baselines: reference bits/dim for discrete images of n_bins levels, on the same scale as a Glow's bits/dim. All
take integer levels [N, D] (flattened images, values 0..n_bins-1).
  uniform       log2(n_bins): every value equally likely.
  categorical   an independent n_bins-way categorical per pixel, Laplace-smoothed counts from the training set.
  gaussian      one full-covariance Gaussian fitted (maximum likelihood) on uniformly dequantised, centred training
                images u = (k + U[0,1)) / n_bins - 0.5, scored like the flow: (-log p(u) + D log n_bins) / (D log 2)
                on dequantised test images. A continuous density with the flow's bound, so directly comparable.

Do class-conditional samples show their class? Two judges, both trained only on real training images, applied to
samples:
  NearestClassMean  assigns the class whose mean training image is closest (Euclidean); no training loop.
  SmallConvNet      conv(16) -> pool -> conv(32) -> pool -> linear, trained with Adam for a fixed step budget.
Accuracy on samples generated for class y, compared with chance (1 / n_classes) and with the judge's accuracy on
real test images, says how well samples follow their class.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from waveglow.flows.gaussian import LOG_2PI
from waveglow.glow.layers import bits_per_dim_from_log_density
from waveglow.glow.model import Glow


@dataclass
class TrainResult:
    """What `train_glow` did: steps taken, seconds spent, and the (step, stats) history at each log point."""

    steps: int
    seconds: float
    history: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def learning_rate(step: int, base_lr: float, warmup: int, total: int) -> float:
    """Linear warm-up over `warmup` steps (Glow's schedule), then cosine decay to 0 at `total`."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train_glow(model: Glow, images: torch.Tensor, labels: torch.Tensor | None = None, steps: int = 1000,
               batch_size: int = 64, lr: float = 1e-3, warmup: int = 100, seed: int = 0, grad_clip: float = 50.0,
               init_batch: int = 512, log_every: int = 100,
               on_log: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Adam on the loss of `model.loss` for a fixed number of steps.

    images: [N, C, H, W] in [0, 1]; labels: [N] class indices, used when the model is class-conditional.
    The ActNorm layers are initialised on a random batch of `init_batch` images first (Glow's data-dependent
    init). Batches and dequantisation noise come from one generator seeded with `seed`, so a run is repeatable.
    """
    generator = torch.Generator().manual_seed(seed)
    use_labels = labels is not None and model.config.n_classes > 0
    n = images.shape[0]
    model.train()
    init_idx = torch.randperm(n, generator=generator)[: min(init_batch, n)]
    model.initialize(images[init_idx], labels[init_idx] if use_labels else None, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    result = TrainResult(steps=0, seconds=0.0)
    start = time.perf_counter()
    running: dict[str, float] = {}
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, lr, warmup, steps)
        idx = torch.randint(n, (batch_size,), generator=generator)
        loss, stats = model.loss(images[idx], labels[idx] if use_labels else None, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        # Clipping only guards against the rare exploding step early in training (large affine log-dets).
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        for key, value in stats.items():
            running[key] = running.get(key, 0.0) + value
        if (step + 1) % log_every == 0 or step + 1 == steps:
            count = log_every if (step + 1) % log_every == 0 else (step + 1) % log_every
            mean_stats = {k: v / count for k, v in running.items()}
            result.history.append((step + 1, mean_stats))
            running = {}
            if on_log is not None:
                on_log(step + 1, mean_stats)
    result.steps = steps
    result.seconds = time.perf_counter() - start
    model.eval()
    return result


@torch.no_grad()
def evaluate_bpd(model: Glow, images: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 500,
                 seed: int = 1234) -> float:
    """Mean test bits/dim over `images` with one uniform dequantisation draw per image from a fixed seed.

    labels are passed to a class-conditional model (bits/dim given y); with labels=None it is scored under the
    class mixture, i.e. the unconditional density.
    """
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    total = 0.0
    for start in range(0, images.shape[0], batch_size):
        batch = images[start: start + batch_size]
        y = labels[start: start + batch_size] if labels is not None and model.config.n_classes > 0 else None
        total += float(model.bits_per_dim(batch, y, generator).sum())
    return total / images.shape[0]


# ---- baselines: reference bits/dim -----------------------------------------------------------------------------------
def uniform_bpd(n_bins: int) -> float:
    return math.log2(n_bins)


def categorical_bpd(train_levels: np.ndarray, test_levels: np.ndarray, n_bins: int, alpha: float = 1.0) -> float:
    """Mean test bits/dim of per-pixel categoricals with add-alpha (Laplace for alpha=1) smoothing."""
    train_levels, test_levels = np.asarray(train_levels, np.int64), np.asarray(test_levels, np.int64)
    dims = train_levels.shape[1]
    counts = np.full((dims, n_bins), alpha, dtype=np.float64)
    np.add.at(counts, (np.broadcast_to(np.arange(dims), train_levels.shape), train_levels), 1.0)
    log_p = np.log2(counts / counts.sum(1, keepdims=True))
    return float(-log_p[np.arange(dims)[None, :], test_levels].mean())


def _dequantise(levels: np.ndarray, n_bins: int, rng: np.random.Generator) -> np.ndarray:
    return (levels.astype(np.float64) + rng.random(levels.shape)) / n_bins - 0.5


def gaussian_bpd(train_levels: np.ndarray, test_levels: np.ndarray, n_bins: int, seed: int = 0) -> float:
    """Mean test bits/dim of a full-covariance Gaussian fitted on dequantised training images."""
    rng = np.random.default_rng(seed)
    train = _dequantise(np.asarray(train_levels), n_bins, rng)
    test = _dequantise(np.asarray(test_levels), n_bins, rng)
    dims = train.shape[1]
    mean = train.mean(0)
    cov = np.cov(train, rowvar=False, bias=True)  # the maximum-likelihood covariance
    chol = np.linalg.cholesky(cov)  # dequantisation noise makes cov positive definite (variance >= 1/(12 K^2))
    solved = np.linalg.solve(chol, (test - mean).T)
    log_density = (-0.5 * (solved ** 2).sum(0) - np.log(np.diag(chol)).sum() - 0.5 * dims * LOG_2PI)
    return float(bits_per_dim_from_log_density(log_density, dims, n_bins).mean())


# ---- judges of class-conditional samples -----------------------------------------------------------------------------
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

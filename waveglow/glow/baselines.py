"""Reference bits/dim for discrete images of n_bins levels, on the same scale as a Glow's bits/dim.

All take integer levels [N, D] (flattened images, values 0..n_bins-1).
  uniform       log2(n_bins): every value equally likely.
  categorical   an independent n_bins-way categorical per pixel, Laplace-smoothed counts from the training set.
  gaussian      one full-covariance Gaussian fitted (maximum likelihood) on uniformly dequantised, centred training
                images u = (k + U[0,1)) / n_bins - 0.5, scored like the flow: (-log p(u) + D log n_bins) / (D log 2)
                on dequantised test images. A continuous density with the flow's bound, so directly comparable.
"""
from __future__ import annotations

import math

import numpy as np

from waveglow.flows.gaussian import LOG_2PI
from waveglow.glow.dequantize import bits_per_dim_from_log_density


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

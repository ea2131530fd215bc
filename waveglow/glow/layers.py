"""The layers of image Glow, around the shared flow core (waveglow.flows): what a level is built from.

    pixels       images in [0, 1] <-> centred flow inputs (uniform dequantisation); the bits/dim formula
    zero layers  ZeroConv2d / ZeroLinear: zero-initialised layers with a learned per-channel log-scale
    CouplingNet  conv3x3 -> ActNorm/ReLU -> conv1x1 -> ActNorm/ReLU -> ZeroConv2d, inside the affine coupling
    permutations reverse / fixed-shuffle channel permutations (flows) and the factory of Glow's four kinds
    LogitTransform  RealNVP's logit pre-processing (an optional first flow layer)
    Split        factor out half the channels under a Gaussian predicted from the kept half (a level's prior)
    TopPrior     the learned, optionally class-conditional prior of the top latent, and the classification head

Pixels and bits/dim, the convention of Glow (Kingma & Dhariwal 2018; Theis et al. 2016 for the bound):
  an image with K = n_bins levels per value is given in [0, 1] as x = k / (K - 1), k in {0, ..., K - 1};
  the flow sees u = (k + noise) / K - 0.5 with noise ~ U[0, 1) per value  (uniform dequantisation, centred on 0:
  the -0.5 shift only moves the density and has Jacobian 1);
  bits/dim = (-log p(u) + D log K) / (D log 2), D = C * H * W.
Each bin of width 1/K in u holds one discrete value, so p(u) (1/K)^D is the probability mass of that value under
the dequantised density, and E_noise[bits/dim] is an upper bound on -log2 P(k) / D. For K = 2^n_bits the D log K
term is Glow's `-log(n_bins) * D` objective offset.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from waveglow.flows.actnorm import ActNorm
from waveglow.flows.flow import Flow, zero_logdet
from waveglow.flows.gaussian import LN2, DiagonalGaussian
from waveglow.flows.invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1
from waveglow.flows.squeeze import split_channels
from waveglow.glow.config import PERMUTATIONS


# ---- pixels: dequantisation and bits/dim -----------------------------------------------------------------------------
def n_bins_for_bits(n_bits: int) -> int:
    """2^n_bits levels per value."""
    return 2 ** int(n_bits)


def to_levels(x: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Image in [0, 1] (values k / (n_bins - 1)) -> integer levels k as float, rounded and clamped."""
    return torch.clamp(torch.round(x * (n_bins - 1)), 0, n_bins - 1)


def dequantize(x: torch.Tensor, n_bins: int, generator: torch.Generator | None = None,
               noise: str = "uniform") -> torch.Tensor:
    """Image in [0, 1] -> flow input (k + noise) / n_bins - 0.5 in [-0.5, 0.5).

    noise="uniform" draws U[0, 1) per value (training, bits/dim); noise="center" uses 0.5 (deterministic
    encoding of a given image for interpolation and manipulation).
    """
    levels = to_levels(x, n_bins)
    if noise == "uniform":
        offset = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    elif noise == "center":
        offset = torch.full_like(x, 0.5)
    else:
        raise ValueError(f"noise must be 'uniform' or 'center', got {noise!r}")
    return (levels + offset) / n_bins - 0.5


def to_image(u: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Flow output -> image in [0, 1] on the n_bins grid (the bin that u falls in, clamped to the valid range)."""
    levels = torch.clamp(torch.floor((u + 0.5) * n_bins), 0, n_bins - 1)
    return levels / (n_bins - 1)


def bits_per_dim_from_log_density(log_density: torch.Tensor, dims: int, n_bins: int) -> torch.Tensor:
    """bits/dim [B] of discrete images from log p(u) [B] of their dequantised, centred versions."""
    return (-log_density + dims * math.log(n_bins)) / (dims * LN2)


# ---- zero-initialised layers -----------------------------------------------------------------------------------------
class ZeroConv2d(nn.Module):
    """3x3 convolution (zero padding) times a learned per-channel scale exp(log_scale * log_scale_factor).

    x: [B, C_in, H, W] -> [B, C_out, H, W]. Weight, bias and log_scale all start at zero, so the output starts at
    exactly zero: a coupling it ends starts as the identity (additive) or a constant scale (sigmoid), and a prior
    it parametrises starts as N(0, 1). The factor (3 in the Glow paper's code) lets the scale move faster than
    Adam's per-parameter step size would otherwise allow.
    """

    def __init__(self, in_channels: int, out_channels: int, log_scale_factor: float = 3.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)
        self.log_scale = nn.Parameter(torch.zeros(out_channels))
        self.log_scale_factor = log_scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.exp(self.log_scale * self.log_scale_factor).view(1, -1, 1, 1)
        return self.conv(x) * scale


class ZeroLinear(nn.Module):
    """Linear layer with the same zero start and per-output scale as `ZeroConv2d`. x: [B, F_in] -> [B, F_out]."""

    def __init__(self, in_features: int, out_features: int, log_scale_factor: float = 3.0):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.log_scale = nn.Parameter(torch.zeros(out_features))
        self.log_scale_factor = log_scale_factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x) * torch.exp(self.log_scale * self.log_scale_factor)


# ---- the coupling network --------------------------------------------------------------------------------------------
class CouplingNet(nn.Module):
    """conv3x3 -> ActNorm -> ReLU -> conv1x1 -> ActNorm -> ReLU -> ZeroConv2d.

    x_a: [B, in_channels, H, W] -> [B, out_channels, H, W]. For `AffineCoupling` out_channels is n_b (additive)
    or 2 * n_b (shift, then raw scale). The hidden convolutions have no bias because ActNorm follows them; their
    weights start at N(0, 0.05^2) as in the Glow paper, and ActNorm's data-dependent init rescales them anyway.
    `cond` is accepted for the flow-core contract and ignored (class conditioning lives in the prior).
    """

    def __init__(self, in_channels: int, out_channels: int, hidden: int = 512):
        super().__init__()
        self.conv_in = nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1, bias=False)
        self.norm_in = ActNorm(hidden)
        self.conv_mid = nn.Conv2d(hidden, hidden, kernel_size=1, bias=False)
        self.norm_mid = ActNorm(hidden)
        self.conv_out = ZeroConv2d(hidden, out_channels)
        for conv in (self.conv_in, self.conv_mid):
            nn.init.normal_(conv.weight, 0.0, 0.05)

    def forward(self, x_a: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h = torch.relu(self.norm_in(self.conv_in(x_a))[0])  # ActNorm returns (y, logdet); the net needs y only
        h = torch.relu(self.norm_mid(self.conv_mid(h))[0])
        return self.conv_out(h)


# ---- channel permutations --------------------------------------------------------------------------------------------
class ChannelPermutation(Flow):
    """y[:, i] = x[:, perm[i]] for x [B, C, *positions]; logdet [B] = 0 (a permutation has |det| = 1)."""

    def __init__(self, perm: torch.Tensor):
        super().__init__()
        perm = perm.to(torch.long)
        if not torch.equal(torch.sort(perm).values, torch.arange(len(perm))):
            raise ValueError("perm must be a permutation of 0..C-1")
        self.register_buffer("perm", perm)
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        return x[:, self.perm], zero_logdet(x)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return y[:, self.inverse_perm]


class ReversePermutation(ChannelPermutation):
    """Channels in reverse order (RealNVP / the Glow paper's 'reverse' baseline)."""

    def __init__(self, channels: int):
        super().__init__(torch.arange(channels - 1, -1, -1))


class ShufflePermutation(ChannelPermutation):
    """A fixed random channel order, drawn once at construction and stored as a buffer (so checkpoints keep it)."""

    def __init__(self, channels: int, generator: torch.Generator | None = None):
        super().__init__(torch.randperm(channels, generator=generator))


def make_permutation(kind: str, channels: int, generator: torch.Generator | None = None) -> nn.Module:
    """The flow layer for `kind` in PERMUTATIONS; `generator` draws the shuffle order or the initial rotation."""
    if kind == "reverse":
        return ReversePermutation(channels)
    if kind == "shuffle":
        return ShufflePermutation(channels, generator)
    if kind == "conv1x1":
        return InvertibleConv1x1(channels, generator)
    if kind == "lu":
        return LUInvertibleConv1x1(channels, generator)
    raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {kind!r}")


# ---- the logit pre-processing ----------------------------------------------------------------------------------------
class LogitTransform(Flow):
    """u in [-0.5, 0.5) (centred, dequantised pixels) -> logit(s), s = alpha + (1 - 2 alpha)(u + 0.5).

    x: [B, ...] -> same shape; logdet [B] = sum of log(1 - 2 alpha) - log s - log(1 - s).
    Why: a flow on raw pixels must put density outside the data's box [-0.5, 0.5) (a Gaussian prior pushed
    through smooth maps has unbounded support) and cannot form the sharp box edges of the many saturated pixels
    (all-black backgrounds). The logit maps the box onto the real line, so no mass is wasted outside it; alpha
    keeps the edges finite. Same density bookkeeping as any flow layer: bits/dim stay on the pixel scale.
    """

    def __init__(self, alpha: float = 0.05):
        super().__init__()
        if not 0.0 < alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
        self.alpha = alpha

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        s = self.alpha + (1.0 - 2.0 * self.alpha) * (x + 0.5)
        y = torch.log(s) - torch.log1p(-s)
        log_jac = math.log(1.0 - 2.0 * self.alpha) - torch.log(s) - torch.log1p(-s)
        return y, log_jac.flatten(1).sum(1, dtype=torch.promote_types(x.dtype, torch.float32))

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return (torch.sigmoid(y) - self.alpha) / (1.0 - 2.0 * self.alpha) - 0.5

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


# ---- priors: a level's split and the top prior -----------------------------------------------------------------------
class Split(nn.Module):
    """x [B, C, H, W] -> kept [B, C // 2, H, W] and z [B, C - C // 2, H, W] with log p(z | kept) [B].

    The prior is N(mean, exp(log_std)^2) with [mean, log_std] = ZeroConv2d(kept) (channels: means first), so it
    starts as N(0, 1). This is not a bijection with a log-det but a change of what is modelled: the kept half
    flows on, the factored-out half is scored here.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.n_keep = channels // 2
        self.n_out = channels - self.n_keep
        self.prior = ZeroConv2d(self.n_keep, 2 * self.n_out)

    def prior_params(self, kept: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of the factored-out half, each [B, n_out, H, W]."""
        h = self.prior(kept)
        return h[:, : self.n_out], h[:, self.n_out:]

    def prior_of(self, kept: torch.Tensor) -> DiagonalGaussian:
        """p(z | kept): the Gaussian of the factored-out half."""
        return DiagonalGaussian(*self.prior_params(kept))

    def forward(self, x: torch.Tensor):
        kept, z = split_channels(x, self.n_keep)
        return kept, z, self.prior_of(kept).log_prob(z)

    def inverse(self, kept: torch.Tensor, z: torch.Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Put z back next to `kept`; z=None draws it from the prior at `temperature`."""
        if z is None:
            z = self.prior_of(kept).sample(temperature, generator)
        return torch.cat([kept, z], 1)


class TopPrior(nn.Module):
    """N(mean, exp(log_std)^2) over the top latent z [B, C, H, W].

    learn_top: a free [2C, H, W] table of (mean, log std), zero-initialised (so it starts as N(0, 1)).
    n_classes > 0: a zero-initialised linear map one-hot(y) -> [2C, H, W] is added (a learned mean and log std
    per class and position). With y=None a class-conditional prior scores z under the uniform mixture over
    classes, log p(z) = logsumexp_y log p(z | y) - log n_classes, so bits/dim without labels stay a density.
    The classification head predicts y from the spatial mean of z (Glow paper, section 5): [B, C] -> [B, classes].
    """

    def __init__(self, channels: int, height: int, width: int, learn_top: bool = True, n_classes: int = 0):
        super().__init__()
        self.shape = (channels, height, width)
        self.n_classes = n_classes
        self.table = nn.Parameter(torch.zeros(2 * channels, height, width)) if learn_top else None
        if n_classes > 0:
            self.class_embedding = ZeroLinear(n_classes, 2 * channels * height * width)
            self.class_head = ZeroLinear(channels, n_classes)

    def params(self, y: torch.Tensor | None, batch: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std), each [B, C, H, W]; y: [B] class indices or None (then no class term)."""
        c, h, w = self.shape
        out = like.new_zeros(batch, 2 * c, h, w)
        if self.table is not None:
            out = out + self.table.to(like.dtype)
        if y is not None:
            if self.n_classes == 0:
                raise ValueError("this prior is unconditional; pass y=None")
            one_hot = nn.functional.one_hot(y.long(), self.n_classes).to(like.dtype)
            out = out + self.class_embedding(one_hot).view(batch, 2 * c, h, w)
        return out[:, :c], out[:, c:]

    def distribution(self, y: torch.Tensor | None, batch: int, like: torch.Tensor) -> DiagonalGaussian:
        """p(z | y) (no class term for y=None) as a DiagonalGaussian of [B, C, H, W]."""
        return DiagonalGaussian(*self.params(y, batch, like))

    def log_prob(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(z | y) [B]; for a class-conditional prior with y=None, log of the uniform class mixture."""
        batch = z.shape[0]
        if y is not None or self.n_classes == 0:
            return self.distribution(y, batch, z).log_prob(z)
        per_class = []
        for k in range(self.n_classes):
            y_k = torch.full((batch,), k, dtype=torch.long, device=z.device)
            per_class.append(self.distribution(y_k, batch, z).log_prob(z))
        return torch.logsumexp(torch.stack(per_class, 1), 1) - math.log(self.n_classes)

    def sample(self, batch: int, like: torch.Tensor, y: torch.Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """z [B, C, H, W] at `temperature`; a class-conditional prior with y=None draws y uniformly first."""
        if y is None and self.n_classes > 0:
            y = torch.randint(self.n_classes, (batch,), generator=generator, device=like.device)
        return self.distribution(y, batch, like).sample(temperature, generator)

    def class_logits(self, z: torch.Tensor) -> torch.Tensor:
        """[B, n_classes] logits of y from the spatial mean of the top latent z [B, C, H, W]."""
        if self.n_classes == 0:
            raise ValueError("this prior has no classification head (n_classes=0)")
        return self.class_head(z.mean(dim=(2, 3)))

"""The multi-scale Glow model (Kingma & Dhariwal 2018) assembled from the shared flow-core layers, and walks in its
latent space.

As in rosinality's glow-pytorch, a level (`GlowLevel`, its Block) owns its squeeze, its flow steps and its split
with the split's prior, and scores what it factors out itself; the model strings the levels together under the top
prior. Latent operations (flatten / unflatten z_lists, interpolation, the manifold, attribute directions) work on
flat latents [B, D] (every level's z concatenated), treating the latent as the one D-dimensional Gaussian vector
that the model maps to an image.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
from torch import nn

from waveglow.flows.actnorm import ActNorm
from waveglow.flows.coupling import AffineCoupling
from waveglow.flows.flow import FlowSequential, zero_logdet
from waveglow.flows.gaussian import LN2
from waveglow.flows.squeeze import Squeeze2d
from waveglow.glow.config import GlowConfig
from waveglow.glow.layers import (CouplingNet, LogitTransform, Split, TopPrior, bits_per_dim_from_log_density,
                                  dequantize, make_permutation, to_image)


class GlowOutput(NamedTuple):
    """z_list: latents, the factored-out ones level by level and the top one last; logdet [B]: log|det du/dz-map|;
    log_prob [B]: log p(z_list) under the priors. log p(u) = logdet + log_prob."""

    z_list: list[torch.Tensor]
    logdet: torch.Tensor
    log_prob: torch.Tensor


def flow_step(channels: int, hidden: int, permutation: str, coupling: str,
              generator: torch.Generator | None = None) -> FlowSequential:
    """One step of flow: ActNorm -> permutation -> coupling, on [B, channels, H, W]."""
    n_a = channels // 2
    n_b = channels - n_a
    scale = "additive" if coupling == "additive" else "sigmoid"
    net = CouplingNet(n_a, n_b if scale == "additive" else 2 * n_b, hidden)
    return FlowSequential(ActNorm(channels), make_permutation(permutation, channels, generator),
                          AffineCoupling(net, scale=scale))


class GlowLevel(nn.Module):
    """Squeeze, `depth` flow steps, then (unless last) a Split with its prior.

    [B, C, H, W] -> [B, 4C, H/2, W/2] through `flow`; `split` keeps [B, 2C, H/2, W/2] and factors out the rest,
    scored under its prior. The last level factors nothing out: what leaves it is the top latent, scored by the
    model's top prior (kept on the model, so checkpoints keep their layout).
    """

    def __init__(self, channels: int, config: GlowConfig, last: bool, generator: torch.Generator):
        super().__init__()
        squeezed = 4 * channels
        self.flow = FlowSequential(Squeeze2d(2), *[
            flow_step(squeezed, config.hidden, config.permutation, config.coupling, generator)
            for _ in range(config.depth)])
        self.split = None if last else Split(squeezed)

    def forward(self, h: torch.Tensor):
        """h -> (what flows on, logdet [B], the factored-out z or None, its log p(z | kept) [B] or None)."""
        h, logdet = self.flow(h)
        if self.split is None:
            return h, logdet, None, None
        h, z, log_prob = self.split(h)
        return h, logdet, z, log_prob

    def reverse(self, h: torch.Tensor, z: torch.Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """The inverse: z (None: drawn from the split's prior at `temperature`) back next to h, then the flow
        backwards. z is ignored by the last level."""
        if self.split is not None:
            h = self.split.inverse(h, z, temperature, generator)
        return self.flow.inverse(h)


class Glow(nn.Module):
    """Image Glow: [optional logit] -> L levels of (squeeze, K steps, split) -> learned top prior.

    forward(u [B, C, H, W], y [B] or None) -> GlowOutput on dequantised, centred inputs u (see `dequantize`).
    Images in [0, 1] go through `bits_per_dim`, `encode`, `decode`, `sample`, `loss`. Class labels y only change
    the top prior (and the classification head): the flow itself is unconditional, so encode/decode need no y.
    latent_shapes: per-item shapes of z_list (factored-out latents level by level, the top latent last).
    """

    def __init__(self, config: GlowConfig):
        super().__init__()
        self.config = config
        generator = torch.Generator().manual_seed(config.seed)
        channels, (height, width) = config.in_channels, config.image_size
        self.logit = LogitTransform(config.logit_alpha) if config.logit_alpha > 0 else None
        self.levels = nn.ModuleList()
        self.latent_shapes: list[tuple[int, int, int]] = []
        for i in range(config.levels):
            last = i == config.levels - 1
            level = GlowLevel(channels, config, last, generator)
            self.levels.append(level)
            channels, height, width = 4 * channels, height // 2, width // 2
            if not last:
                self.latent_shapes.append((level.split.n_out, height, width))
                channels = level.split.n_keep
        self.latent_shapes.append((channels, height, width))
        self.top_prior = TopPrior(channels, height, width, config.learn_top, config.n_classes)

    @property
    def dims(self) -> int:
        """D = C * H * W of one image."""
        h, w = self.config.image_size
        return self.config.in_channels * h * w

    # ---- the flow on continuous inputs ----------------------------------------------------------------------------
    def forward(self, u: torch.Tensor, y: torch.Tensor | None = None) -> GlowOutput:
        logdet = zero_logdet(u)
        log_prob = torch.zeros_like(logdet)
        z_list = []
        h = u
        if self.logit is not None:
            h, logit_logdet = self.logit(h)
            logdet = logdet + logit_logdet
        for level in self.levels:
            h, level_logdet, z, split_log_prob = level(h)
            logdet = logdet + level_logdet
            if z is not None:
                z_list.append(z)
                log_prob = log_prob + split_log_prob
        z_list.append(h)
        log_prob = log_prob + self.top_prior.log_prob(h, y)
        return GlowOutput(z_list, logdet, log_prob)

    def reverse(self, z_list: Sequence[torch.Tensor | None] | None = None, temperature: float = 1.0,
                y: torch.Tensor | None = None, n: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents -> u [B, C, H, W]. Missing latents (z_list None, or None entries) are drawn from their priors
        at `temperature`; then the batch size comes from n, y, or the latents given."""
        z_list = list(z_list) if z_list is not None else [None] * len(self.latent_shapes)
        if len(z_list) != len(self.latent_shapes):
            raise ValueError(f"expected {len(self.latent_shapes)} latents, got {len(z_list)}")
        batch = next((z.shape[0] for z in z_list if z is not None), None)
        batch = batch if batch is not None else (len(y) if y is not None else n)
        if batch is None:
            raise ValueError("give z_list, y or n to fix the batch size")
        like = next(self.parameters())
        h = z_list[-1]
        if h is None:
            h = self.top_prior.sample(batch, like, y, temperature, generator)
        splits = iter(reversed(z_list[:-1]))
        for level in reversed(self.levels):
            h = level.reverse(h, next(splits) if level.split is not None else None, temperature, generator)
        return self.logit.inverse(h) if self.logit is not None else h

    # ---- discrete images in [0, 1] ---------------------------------------------------------------------------------
    def log_density(self, u: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(u) [B] of continuous, centred inputs."""
        out = self.forward(u, y)
        return out.logdet + out.log_prob

    def bits_per_dim(self, images: torch.Tensor, y: torch.Tensor | None = None,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """bits/dim [B] of images in [0, 1] on the n_bins grid, with one uniform dequantisation draw each."""
        u = dequantize(images, self.config.n_bins, generator)
        return bits_per_dim_from_log_density(self.log_density(u, y), self.dims, self.config.n_bins)

    def loss(self, images: torch.Tensor, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Training objective in bits: mean bits/dim (+ class_weight * cross-entropy of the head / log 2)."""
        u = dequantize(images, self.config.n_bins, generator)
        out = self.forward(u, y)
        bpd = bits_per_dim_from_log_density(out.logdet + out.log_prob, self.dims, self.config.n_bins).mean()
        stats = {"bpd": float(bpd.detach())}
        loss = bpd
        if y is not None and self.config.n_classes > 0 and self.config.class_weight > 0:
            logits = self.top_prior.class_logits(out.z_list[-1])
            class_bits = nn.functional.cross_entropy(logits, y.long()) / LN2
            loss = loss + self.config.class_weight * class_bits
            stats["class_bits"] = float(class_bits.detach())
            stats["class_acc"] = float((logits.argmax(1) == y).float().mean())
        return loss, stats

    @torch.no_grad()
    def initialize(self, images: torch.Tensor, y: torch.Tensor | None = None,
                   generator: torch.Generator | None = None) -> None:
        """Data-dependent ActNorm initialisation from one (large) batch of images; a no-op once initialised."""
        self.forward(dequantize(images, self.config.n_bins, generator), y)

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Images in [0, 1] -> latents, with bin-centre (deterministic) dequantisation. The flow ignores y."""
        return self.forward(dequantize(images, self.config.n_bins, noise="center")).z_list

    @torch.no_grad()
    def decode(self, z_list: Sequence[torch.Tensor | None], y: torch.Tensor | None = None,
               temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """Latents -> images in [0, 1] on the n_bins grid (None entries sampled at `temperature`)."""
        return to_image(self.reverse(z_list, temperature, y, generator=generator), self.config.n_bins)

    @torch.no_grad()
    def sample(self, n: int, temperature: float = 1.0, y: torch.Tensor | None = None,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """n images in [0, 1]; y [n] picks classes of a class-conditional model (None: uniform classes)."""
        return to_image(self.reverse(None, temperature, y, n=n, generator=generator), self.config.n_bins)

    @torch.no_grad()
    def classify(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits [B, n_classes] from the classification head on the encoded top latent."""
        return self.top_prior.class_logits(self.encode(images)[-1])


# ---- walks in the latent space ---------------------------------------------------------------------------------------
def flatten_latents(z_list: Sequence[torch.Tensor]) -> torch.Tensor:
    """[z_0 [B, ...], ..., z_top [B, ...]] -> [B, D]."""
    return torch.cat([z.flatten(1) for z in z_list], 1)


def unflatten_latents(flat: torch.Tensor, shapes: Sequence[tuple[int, ...]]) -> list[torch.Tensor]:
    """[B, D] -> z_list with per-item `shapes` (a Glow's `latent_shapes`)."""
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(flat[:, start: start + size].reshape(flat.shape[0], *shape))
        start += size
    if start != flat.shape[1]:
        raise ValueError(f"latents have {flat.shape[1]} values, shapes need {start}")
    return out


def interpolate(z_a: torch.Tensor, z_b: torch.Tensor, steps: int) -> torch.Tensor:
    """Linear path from z_a [D] to z_b [D] in `steps` points (ends included) -> [steps, D]."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z_a.dtype).unsqueeze(1)
    return (1 - t) * z_a + t * z_b


def manifold(z1: torch.Tensor, z2: torch.Tensor, z3: torch.Tensor, z4: torch.Tensor, size: int) -> torch.Tensor:
    """z(t, p) = cos t (cos p z1 + sin p z2) + sin t (cos p z3 + sin p z4) on a size x size grid of
    t, p in [0, pi/2] (rows: t, columns: p) -> [size * size, D]. Corners are z1, z2, z3, z4 exactly.

    The cos/sin weights keep the squared weights summing to 1, so a mix of standard-normal latents stays on the
    typical set instead of shrinking toward the mode as a linear blend would.
    """
    angles = torch.linspace(0.0, math.pi / 2, size, dtype=z1.dtype)
    rows = []
    for t in angles:
        for p in angles:
            rows.append(torch.cos(t) * (torch.cos(p) * z1 + torch.sin(p) * z2)
                        + torch.sin(t) * (torch.cos(p) * z3 + torch.sin(p) * z4))
    return torch.stack(rows)


def attribute_direction(z_positive: torch.Tensor, z_negative: torch.Tensor) -> torch.Tensor:
    """mean(z_positive [N+, D]) - mean(z_negative [N-, D]) -> [D] (the Glow paper's manipulation vector)."""
    if len(z_positive) == 0 or len(z_negative) == 0:
        raise ValueError("both labelled subsets need at least one image")
    return z_positive.mean(0) - z_negative.mean(0)


def manipulate(z: torch.Tensor, direction: torch.Tensor, alphas: Sequence[float]) -> torch.Tensor:
    """z [B, D] moved by alpha * direction for each alpha -> [B * len(alphas), D], image-major (one row each)."""
    alphas_t = torch.as_tensor(list(alphas), dtype=z.dtype)
    return (z.unsqueeze(1) + alphas_t.view(1, -1, 1) * direction.view(1, 1, -1)).reshape(-1, z.shape[1])

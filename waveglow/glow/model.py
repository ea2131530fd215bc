"""The multi-scale Glow model (Kingma & Dhariwal 2018) assembled from the shared flow-core layers."""
from __future__ import annotations

from typing import NamedTuple, Sequence

import torch
from torch import nn

from waveglow.flows.actnorm import ActNorm
from waveglow.flows.coupling import AffineCoupling
from waveglow.flows.flow import FlowSequential, zero_logdet
from waveglow.flows.gaussian import LN2
from waveglow.flows.squeeze import Squeeze2d
from waveglow.glow.config import GlowConfig
from waveglow.glow.coupling_net import CouplingNet
from waveglow.glow.dequantize import bits_per_dim_from_log_density, dequantize, to_image
from waveglow.glow.logit import LogitTransform
from waveglow.glow.permutation import make_permutation
from waveglow.glow.split import Split
from waveglow.glow.top_prior import TopPrior


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
    """Squeeze, `depth` flow steps, then (unless last) a Split.

    [B, C, H, W] -> [B, 4C, H/2, W/2] through `flow`; `split` keeps [B, 2C, H/2, W/2] and factors out the rest.
    """

    def __init__(self, channels: int, config: GlowConfig, last: bool, generator: torch.Generator):
        super().__init__()
        squeezed = 4 * channels
        self.flow = FlowSequential(Squeeze2d(2), *[
            flow_step(squeezed, config.hidden, config.permutation, config.coupling, generator)
            for _ in range(config.depth)])
        self.split = None if last else Split(squeezed)


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
            h, level_logdet = level.flow(h)
            logdet = logdet + level_logdet
            if level.split is not None:
                h, z, split_log_prob = level.split(h)
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
            if level.split is not None:
                h = level.split.inverse(h, next(splits), temperature, generator)
            h = level.flow.inverse(h)
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

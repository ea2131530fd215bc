"""GlowConfig: every hyper-parameter that fixes the shape of an image Glow (saved as JSON with checkpoints)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

COUPLINGS = ("additive", "affine")
PERMUTATIONS = ("reverse", "shuffle", "conv1x1", "lu")  # the flow layers: waveglow.glow.layers.make_permutation


@dataclass
class GlowConfig:
    """Shape of a multi-scale Glow.

    in_channels, image_size: input images [C, H, W]; H and W must be divisible by 2^levels.
    levels (L): squeeze + `depth` flow steps per level; each level but the last factors out half its channels.
    depth (K): flow steps (ActNorm -> permutation -> coupling) per level.
    hidden: channels of the coupling networks.
    permutation: reverse | shuffle | conv1x1 | lu.   coupling: additive | affine (sigmoid scale, as in Glow).
    n_bins: levels per value of the discrete images (2^n_bits; 17 for sklearn digits).
    logit_alpha: > 0 puts RealNVP's logit transform (with this alpha) in front of the flow; 0 (Glow) leaves it out.
    learn_top: learned top prior; n_classes > 0 makes it class-conditional (and enables the classification head,
    weighted by class_weight in the training loss). seed: draws the initial rotations and shuffle orders.
    """

    in_channels: int = 1
    image_size: tuple[int, int] = (8, 8)
    levels: int = 2
    depth: int = 8
    hidden: int = 128
    permutation: str = "conv1x1"
    coupling: str = "affine"
    n_bins: int = 256
    logit_alpha: float = 0.0
    learn_top: bool = True
    n_classes: int = 0
    class_weight: float = 0.0
    seed: int = 0

    def __post_init__(self):
        self.image_size = tuple(int(s) for s in self.image_size)
        if self.permutation not in PERMUTATIONS:
            raise ValueError(f"permutation must be one of {PERMUTATIONS}, got {self.permutation!r}")
        if self.coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {COUPLINGS}, got {self.coupling!r}")
        if self.levels < 1 or self.depth < 1 or self.hidden < 1:
            raise ValueError("levels, depth and hidden must be >= 1")
        step = 2 ** self.levels
        if len(self.image_size) != 2 or any(s % step for s in self.image_size):
            raise ValueError(f"image size {self.image_size} must be divisible by 2^levels = {step}")
        if self.n_bins < 2:
            raise ValueError("n_bins must be >= 2")
        if not 0.0 <= self.logit_alpha < 0.5:
            raise ValueError(f"logit_alpha must be in [0, 0.5), got {self.logit_alpha}")

    @property
    def n_bits(self) -> float:
        """log2(n_bins): an integer for 2^n_bits-level data, log2(17) ~ 4.09 for sklearn digits."""
        return math.log2(self.n_bins)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "GlowConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown Glow config keys: {sorted(unknown)}")
        return cls(**d)

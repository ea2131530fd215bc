"""Image Glow (Kingma & Dhariwal 2018) on the shared flow core (ActNorm, 1x1 convolutions, coupling, squeeze, the
Gaussian base distributions of waveglow.flows.gaussian).

Modules:
  config      GlowConfig, the coupling and permutation kinds
  layers      pixels <-> flow inputs and bits/dim; ZeroConv2d / ZeroLinear; CouplingNet; channel permutations;
              LogitTransform; Split (a level's prior) and TopPrior (the top latent's, with the classification head)
  model       Glow, GlowLevel (squeeze, flow steps, its split), flow_step; latent walks (interpolation, the
              sinusoidal manifold, attribute directions)
  training    train_glow, evaluate_bpd; uniform / categorical / full-covariance Gaussian baselines; the classifiers
              that judge class-conditional samples
  checkpoint  save_glow / load_glow (config.json + model.safetensors, written atomically); PNG image grids
"""
from waveglow.glow.config import COUPLINGS, PERMUTATIONS, GlowConfig
from waveglow.glow.layers import (ChannelPermutation, LogitTransform, ReversePermutation, ShufflePermutation, Split,
                                  TopPrior, ZeroConv2d, ZeroLinear, bits_per_dim_from_log_density, dequantize,
                                  make_permutation, to_image)
from waveglow.glow.model import Glow, GlowOutput, flow_step

__all__ = [
    "COUPLINGS", "PERMUTATIONS", "ChannelPermutation", "Glow", "GlowConfig", "GlowOutput", "LogitTransform",
    "ReversePermutation", "ShufflePermutation", "Split", "TopPrior", "ZeroConv2d", "ZeroLinear",
    "bits_per_dim_from_log_density", "dequantize", "flow_step", "make_permutation", "to_image",
]

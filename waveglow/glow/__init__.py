"""Image Glow (Kingma & Dhariwal 2018) on the shared flow core (ActNorm, 1x1 convolutions, coupling, squeeze, the
Gaussian prior of waveglow.flows.gaussian).

Modules (one idea each):
  zero_conv     ZeroConv2d / ZeroLinear: zero-initialised layers with a learned per-channel log-scale
  coupling_net  CouplingNet: conv3x3 -> ActNorm/ReLU -> conv1x1 -> ActNorm/ReLU -> ZeroConv2d
  permutation   reverse / fixed-shuffle channel permutations (flow layers) and the permutation factory
  split         Split: factor out half the channels under a prior predicted from the kept half
  top_prior     TopPrior: learned, class-conditional top prior and the classification head
  dequantize    images in [0, 1] <-> centred flow inputs; the bits/dim formula
  logit         LogitTransform: RealNVP's logit pre-processing (optional first flow layer)
  config        GlowConfig
  model         Glow, GlowLevel, flow_step
  checkpoint    save_glow / load_glow: config.json + model.safetensors, written atomically
  training      train_glow, evaluate_bpd
  baselines     uniform, full-covariance Gaussian and per-pixel categorical bits/dim
  latent_ops    interpolation, the sinusoidal manifold, attribute directions
  image_grid    image grids written as PNG (Pillow), atomically
  sample_check  classifiers fitted on real images, to score class-conditional samples
"""
from waveglow.glow.config import COUPLINGS, GlowConfig
from waveglow.glow.dequantize import bits_per_dim_from_log_density, dequantize, to_image
from waveglow.glow.logit import LogitTransform
from waveglow.glow.model import Glow, GlowOutput, flow_step
from waveglow.glow.permutation import (ChannelPermutation, PERMUTATIONS, ReversePermutation, ShufflePermutation,
                                       make_permutation)
from waveglow.glow.split import Split
from waveglow.glow.top_prior import TopPrior
from waveglow.glow.zero_conv import ZeroConv2d, ZeroLinear

__all__ = [
    "COUPLINGS", "PERMUTATIONS", "ChannelPermutation", "Glow", "GlowConfig", "GlowOutput", "LogitTransform",
    "ReversePermutation", "ShufflePermutation", "Split", "TopPrior", "ZeroConv2d", "ZeroLinear",
    "bits_per_dim_from_log_density", "dequantize", "flow_step", "make_permutation", "to_image",
]

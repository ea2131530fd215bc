"""The model-agnostic flow core: every layer maps x -> (y, logdet [B]) and back exactly (see `flow`).

    flow             the contract (Flow, the base class of every layer), FlowSequential, zero_logdet
    actnorm          ActNorm (data-dependent init)
    coupling         AffineCoupling (exp / sigmoid / additive scales)
    invertible_conv  InvertibleConv1x1, LUInvertibleConv1x1
    squeeze          GroupSamples, Squeeze2d, split_channels, sample grouping
    gaussian         the Gaussian base distributions (StandardNormal, DiagonalGaussian): log_prob, NLL, sampling
"""
from waveglow.flows.actnorm import ActNorm
from waveglow.flows.coupling import AffineCoupling
from waveglow.flows.flow import Flow, FlowSequential, zero_logdet
from waveglow.flows.gaussian import DiagonalGaussian, StandardNormal
from waveglow.flows.invertible_conv import InvertibleConv1x1, LUInvertibleConv1x1
from waveglow.flows.squeeze import GroupSamples, Squeeze2d

__all__ = ["ActNorm", "AffineCoupling", "DiagonalGaussian", "Flow", "FlowSequential", "GroupSamples",
           "InvertibleConv1x1", "LUInvertibleConv1x1", "Squeeze2d", "StandardNormal", "zero_logdet"]

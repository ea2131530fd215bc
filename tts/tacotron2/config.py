"""Tacotron2 hyper-parameters (NVIDIA's names and defaults) and their recovery from a state_dict."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Mapping

import torch

from waveglow.common.errors import CheckpointError


@dataclass
class Tacotron2Config:
    """Architecture and run-time settings. Defaults are NVIDIA/tacotron2's `hparams.py` (the published model)."""

    n_symbols: int = 148
    symbols_embedding_dim: int = 512
    # Encoder
    encoder_kernel_size: int = 5
    encoder_n_convolutions: int = 3
    encoder_embedding_dim: int = 512
    # Decoder
    n_mel_channels: int = 80
    n_frames_per_step: int = 1
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    prenet_n_layers: int = 2
    max_decoder_steps: int = 1000
    gate_threshold: float = 0.5
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    # Prenet dropout is applied in eval mode too (NVIDIA behaviour); 0 makes inference deterministic.
    prenet_dropout: float = 0.5
    # Attention
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    # Postnet
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    # Dropout after encoder / postnet convolutions, training mode only (hard-coded 0.5 in NVIDIA's code).
    encoder_dropout: float = 0.5
    postnet_dropout: float = 0.5
    # Teacher forcing: zero the mel (and set gate logits to 1000) beyond each item's output length.
    mask_padding: bool = True

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}


class MissingKeyError(CheckpointError, KeyError):
    """A state_dict lacks a tensor needed to infer the architecture (`.key` names it)."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:  # KeyError's would be the bare repr of the key
        return f"missing tensor {self.key!r}"


def _shape(state_dict: Mapping[str, torch.Tensor], key: str) -> torch.Size:
    if key not in state_dict:
        raise MissingKeyError(key)
    return state_dict[key].shape


def _count(state_dict: Mapping[str, torch.Tensor], key_pattern: str) -> int:
    """How many consecutive indices i = 0, 1, ... have `key_pattern.format(i)` in the state_dict.

    A gap (layer i missing while a later layer exists) raises MissingKeyError for layer i's key.
    """
    n = 0
    while key_pattern.format(n) in state_dict:
        n += 1
    prefix = key_pattern.split("{}")[0]
    later = [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].split(".")[0].isdigit()
             and int(k[len(prefix):].split(".")[0]) >= n]
    if later:
        raise MissingKeyError(key_pattern.format(n))
    return n


def config_from_state_dict(state_dict: Mapping[str, torch.Tensor], **overrides) -> Tacotron2Config:
    """Every architecture hyper-parameter read off tensor shapes of an NVIDIA-layout state_dict.

    `overrides` set run-time fields (prenet_dropout, gate_threshold, ...). Raises MissingKeyError for a missing
    tensor and ValueError for shapes that do not fit together.
    """
    n_symbols, symbols_embedding_dim = _shape(state_dict, "embedding.weight")

    encoder_conv = "encoder.convolutions.{}.0.conv.weight"
    encoder_n_convolutions = _count(state_dict, encoder_conv)
    encoder_embedding_dim, _, encoder_kernel_size = _shape(state_dict, encoder_conv.format(0))

    prenet = "decoder.prenet.layers.{}.linear_layer.weight"
    prenet_n_layers = _count(state_dict, prenet)
    prenet_dim, frame_dim = _shape(state_dict, prenet.format(0))

    attention_rnn_dim = _shape(state_dict, "decoder.attention_rnn.weight_hh")[1]
    decoder_rnn_dim = _shape(state_dict, "decoder.decoder_rnn.weight_hh")[1]
    attention_dim = _shape(state_dict, "decoder.attention_layer.query_layer.linear_layer.weight")[0]
    n_filters, _, location_kernel_size = _shape(
        state_dict, "decoder.attention_layer.location_layer.location_conv.conv.weight")

    postnet_conv = "postnet.convolutions.{}.0.conv.weight"
    postnet_n_convolutions = _count(state_dict, postnet_conv)
    postnet_embedding_dim, n_mel_channels, postnet_kernel_size = _shape(state_dict, postnet_conv.format(0))

    if frame_dim % n_mel_channels:
        raise ValueError(f"prenet input size {frame_dim} is not a multiple of the {n_mel_channels} mel channels "
                         "(decoder.prenet.layers.0 vs postnet.convolutions.0)")
    config = Tacotron2Config(
        n_symbols=int(n_symbols),
        symbols_embedding_dim=int(symbols_embedding_dim),
        encoder_kernel_size=int(encoder_kernel_size),
        encoder_n_convolutions=encoder_n_convolutions,
        encoder_embedding_dim=int(encoder_embedding_dim),
        n_mel_channels=int(n_mel_channels),
        n_frames_per_step=int(frame_dim) // int(n_mel_channels),
        decoder_rnn_dim=int(decoder_rnn_dim),
        prenet_dim=int(prenet_dim),
        prenet_n_layers=prenet_n_layers,
        attention_rnn_dim=int(attention_rnn_dim),
        attention_dim=int(attention_dim),
        attention_location_n_filters=int(n_filters),
        attention_location_kernel_size=int(location_kernel_size),
        postnet_embedding_dim=int(postnet_embedding_dim),
        postnet_kernel_size=int(postnet_kernel_size),
        postnet_n_convolutions=postnet_n_convolutions,
    )
    for name, value in overrides.items():
        if name not in Tacotron2Config.field_names():
            raise TypeError(f"unknown Tacotron2 setting {name!r}")
        setattr(config, name, value)
    return config

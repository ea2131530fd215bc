"""Tacotron2 encoder: character embeddings -> convolution stack -> bidirectional LSTM."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tts.tacotron2.layers import ConvBatchNorm, lengths_to_mask


class Encoder(nn.Module):
    """x [B, in_dim, T] (embedded symbols, channels first) -> encoder outputs [B, T, embedding_dim].

    `n_convolutions` conv + BatchNorm + ReLU blocks (dropout `dropout` in training mode only), then a
    one-layer BiLSTM with embedding_dim / 2 units per direction.
    """

    def __init__(self, in_dim: int, embedding_dim: int, n_convolutions: int, kernel_size: int,
                 dropout: float = 0.5):
        super().__init__()
        if embedding_dim % 2:
            raise ValueError(f"encoder embedding dim must be even (two LSTM directions), got {embedding_dim}")
        self.dropout = dropout
        self.convolutions = nn.ModuleList(
            ConvBatchNorm(in_dim if i == 0 else embedding_dim, embedding_dim, kernel_size, w_init_gain="relu")
            for i in range(n_convolutions)
        )
        self.lstm = nn.LSTM(embedding_dim, embedding_dim // 2, num_layers=1, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None,
                zero_padding: bool = False) -> torch.Tensor:
        """`lengths` [B]: valid symbols per item. With lengths the LSTM runs packed, so the backward direction
        starts at each item's last real symbol and padded positions come out as zeros.

        `zero_padding` (needs lengths) zeroes padded positions before every convolution, so an item of a padded
        batch gets exactly the features it gets alone. NVIDIA's teacher forcing does not do this (padding
        symbols leak into the last kernel_size // 2 positions), so training keeps it off for parity.
        """
        keep = None
        if zero_padding and lengths is not None:
            keep = lengths_to_mask(lengths.to(x.device), x.size(2)).unsqueeze(1).to(x.dtype)  # [B, 1, T]
        for conv in self.convolutions:
            if keep is not None:
                x = x * keep
            x = F.dropout(F.relu(conv(x)), self.dropout, self.training)
        x = x.transpose(1, 2)
        if lengths is None:
            return self.lstm(x)[0]
        total_length = x.size(1)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.lstm(packed)
        return pad_packed_sequence(outputs, batch_first=True, total_length=total_length)[0]

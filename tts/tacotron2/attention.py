"""Location-sensitive attention (Chorowski et al. 2015) as used by Tacotron2."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tts.tacotron2.layers import ConvNorm, LinearNorm


class LocationLayer(nn.Module):
    """Features of the previous and cumulative attention weights.

    weights [B, 2, T_in] -> [B, T_in, attention_dim] (conv with n_filters, then a linear map).
    """

    def __init__(self, n_filters: int, kernel_size: int, attention_dim: int):
        super().__init__()
        self.location_conv = ConvNorm(2, n_filters, kernel_size, bias=False)
        self.location_dense = LinearNorm(n_filters, attention_dim, bias=False, w_init_gain="tanh")

    def forward(self, attention_weights_cat: torch.Tensor) -> torch.Tensor:
        return self.location_dense(self.location_conv(attention_weights_cat).transpose(1, 2))


class LocationSensitiveAttention(nn.Module):
    """energy_j = v . tanh(W q + V m_j + U f_j); weights = softmax over the valid encoder positions j."""

    def __init__(self, query_dim: int, memory_dim: int, attention_dim: int, n_filters: int, kernel_size: int):
        super().__init__()
        self.query_layer = LinearNorm(query_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.memory_layer = LinearNorm(memory_dim, attention_dim, bias=False, w_init_gain="tanh")
        self.v = LinearNorm(attention_dim, 1, bias=False)
        self.location_layer = LocationLayer(n_filters, kernel_size, attention_dim)

    def process_memory(self, memory: torch.Tensor) -> torch.Tensor:
        """memory [B, T_in, memory_dim] -> [B, T_in, attention_dim]; computed once per utterance."""
        return self.memory_layer(memory)

    def forward(self, query: torch.Tensor, memory: torch.Tensor, processed_memory: torch.Tensor,
                attention_weights_cat: torch.Tensor, memory_mask: torch.Tensor | None):
        """query [B, query_dim]; memory [B, T_in, memory_dim]; attention_weights_cat [B, 2, T_in];
        memory_mask [B, T_in] bool, True at valid positions (None: all valid).

        Returns (context [B, memory_dim], weights [B, T_in]); weights are exactly 0 at masked positions.
        """
        processed_query = self.query_layer(query.unsqueeze(1))
        location_features = self.location_layer(attention_weights_cat)
        energies = self.v(torch.tanh(processed_query + location_features + processed_memory)).squeeze(-1)
        if memory_mask is not None:
            energies = energies.masked_fill(~memory_mask, float("-inf"))
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        return context, weights

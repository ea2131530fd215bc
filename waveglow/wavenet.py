"""WN: the non-causal WaveNet-like network inside each WaveGlow coupling (Prenger et al. 2019)."""
from __future__ import annotations

import torch
from torch import nn

WEIGHT_NORMED = ("start", "cond_layer", "in_layers", "res_skip_layers")


class WN(nn.Module):
    """x_a [B, in_channels, S] and cond [B, cond_channels, S] -> [B, out_channels, S] (S = audio steps).

    start (1x1) -> n_layers x [dilated conv (dilation 2**i) + conditioning -> tanh * sigmoid gate -> 1x1 res/skip]
    -> sum of skips -> end (1x1, zero-initialised so a new coupling starts as the identity).
    The conditioning of all layers comes from one fused 1x1 conv with 2 * n_channels * n_layers outputs; layer i
    uses rows [2 * n_channels * i, 2 * n_channels * (i + 1)). The last res/skip conv has only skip outputs.
    """

    def __init__(self, in_channels: int, cond_channels: int, out_channels: int, n_layers: int = 8,
                 n_channels: int = 256, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"WN kernel_size must be odd (symmetric padding), got {kernel_size}")
        if n_layers < 1:
            raise ValueError(f"WN n_layers must be >= 1, got {n_layers}")
        self.n_layers = n_layers
        self.n_channels = n_channels
        self.start = nn.Conv1d(in_channels, n_channels, 1)
        self.cond_layer = nn.Conv1d(cond_channels, 2 * n_channels * n_layers, 1)
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = 2**i
            self.in_layers.append(nn.Conv1d(n_channels, 2 * n_channels, kernel_size, dilation=dilation,
                                            padding=dilation * (kernel_size - 1) // 2))
            last = i == n_layers - 1
            self.res_skip_layers.append(nn.Conv1d(n_channels, n_channels if last else 2 * n_channels, 1))
        self.end = nn.Conv1d(n_channels, out_channels, 1)
        nn.init.zeros_(self.end.weight)
        nn.init.zeros_(self.end.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.n_channels
        h = self.start(x)
        cond = self.cond_layer(cond)
        skip = None
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            gate = in_layer(h) + cond[:, 2 * c * i: 2 * c * (i + 1)]
            acts = torch.tanh(gate[:, :c]) * torch.sigmoid(gate[:, c:])
            res_skip = res_skip_layer(acts)
            if i < self.n_layers - 1:
                h = h + res_skip[:, :c]
                res_skip = res_skip[:, c:]
            skip = res_skip if skip is None else skip + res_skip
        return self.end(skip)

    def weight_normed_convs(self) -> list[nn.Conv1d]:
        """The convolutions NVIDIA trains under weight norm (all but `end`)."""
        return [self.start, self.cond_layer, *self.in_layers, *self.res_skip_layers]

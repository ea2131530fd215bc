"""WN: the non-causal WaveNet-like network inside each WaveGlow coupling (Prenger et al. 2019)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
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

    #: AffineCoupling may hand this network inputs in a reduced dtype: it casts its own weights (cached).
    casts_own_weights = True

    def _tensors(self, dtype: torch.dtype) -> dict:
        """Every weight and bias as plain tensors in `dtype`. In the parameters' own dtype they are the live
        (differentiable, weight-norm aware) tensors; in another dtype a copy cached until a parameter changes,
        so reduced-precision inference casts 87 M weights once, not on every call (while recording a graph for
        training the casts are made per call instead, so gradients reach the parameters)."""
        def collect():
            return {
                "start": (self.start.weight, self.start.bias),
                "cond": (self.cond_layer.weight.squeeze(-1), self.cond_layer.bias),
                "in": [(conv.weight, conv.bias) for conv in self.in_layers],
                "res_skip": [(conv.weight.squeeze(-1), conv.bias) for conv in self.res_skip_layers],
                "end": (self.end.weight, self.end.bias),
            }

        if dtype == self.start.bias.dtype:
            return collect()
        if torch.is_grad_enabled() and self.start.bias.requires_grad:
            # Mixed-precision training: casts that gradients flow back through, made afresh every call.
            return torch.utils._pytree.tree_map(lambda t: t.to(dtype), collect())
        key = (dtype,) + tuple((p.data_ptr(), p._version) for p in self.parameters())
        cached = self.__dict__.get("_cast_cache")
        if cached is None or cached[0] != key:
            with torch.no_grad():
                tensors = torch.utils._pytree.tree_map(lambda t: t.detach().to(dtype), collect())
            self.__dict__["_cast_cache"] = cached = (key, tensors)
        return cached[1]

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # Same maths as the reference, arranged for speed and memory (benchmarks/vocoder_speed.py):
        # * each layer's rows of the conditioning conv are applied inside the loop, so the
        #   [B, 2 * n_channels * n_layers, S] conditioning tensor (4096 channels officially) never exists;
        # * conditioning, residual and skip 1x1 convs accumulate straight into their targets through batched
        #   GEMMs (baddbmm), saving a pass over memory per add; skip biases are summed once at the end.
        # Under autocast (mixed-precision training) every op here runs in the autocast dtype, cast explicitly: the
        # fused accumulations below need all their operands in one dtype.
        device = x.device.type
        if torch.is_autocast_enabled(device):
            x = x.to(torch.get_autocast_dtype(device))
            with torch.autocast(device, enabled=False):
                return self.forward(x, cond)
        c, batch = self.n_channels, x.shape[0]
        if self.tile_steps and x.shape[2] > self.tile_steps and not torch.is_grad_enabled():
            return self.forward_tiled(x, cond, self.tile_steps)
        w = self._tensors(x.dtype)
        cond = cond.to(x.dtype)
        h = F.conv1d(x, *w["start"])
        cond_weight, cond_bias = w["cond"]
        # In-place accumulation (no copy of the target first) wherever autograd allows it: no backward needs the
        # conv output `gate` or the running `skip` sum; the residual `h` feeds the next conv's backward, so it is
        # only updated in place when no graph is being recorded.
        h_in_place = not torch.is_grad_enabled()
        skip, skip_bias = None, None
        for i, ((in_weight, in_bias), (weight, bias)) in enumerate(zip(w["in"], w["res_skip"])):
            rows = slice(2 * c * i, 2 * c * (i + 1))
            layer = self.in_layers[i]
            gate = F.conv1d(h, in_weight, in_bias + cond_bias[rows], dilation=layer.dilation, padding=layer.padding)
            gate.baddbmm_(cond_weight[rows].expand(batch, -1, -1), cond)
            if h_in_place:  # no graph: the gate's halves are overwritten, no new [B, c, S] tensors at all
                acts = gate[:, :c].tanh_().mul_(gate[:, c:].sigmoid_())
            else:
                acts = torch.tanh(gate[:, :c]) * torch.sigmoid(gate[:, c:])
            if i < self.n_layers - 1:
                res_weight = weight[:c].expand(batch, -1, -1)
                h = h.baddbmm_(res_weight, acts) if h_in_place else torch.baddbmm(h, res_weight, acts)
                h.add_(bias[:c, None])
                weight, bias = weight[c:], bias[c:]
            if skip is None:
                skip = torch.bmm(weight.expand(batch, -1, -1), acts)
            else:
                skip.baddbmm_(weight.expand(batch, -1, -1), acts)
            skip_bias = bias if skip_bias is None else skip_bias + bias
        return F.conv1d(skip + skip_bias[:, None], *w["end"])

    #: inference (no grad) on sequences longer than this many steps runs in time tiles (`forward_tiled`)
    tile_steps: int | None = 4096

    def forward_tiled(self, x: torch.Tensor, cond: torch.Tensor, tile: int) -> torch.Tensor:
        """`forward` without autograd, computed as a wavefront over time tiles so each layer's tensors stay in cache.

        Layer i (dilation d_i) reads h_i at t - d_i .. t + d_i, so once the layer before it has produced h_i up to
        position P it can run up to P - d_i. Each round every layer advances by `tile` steps, lagging the one
        before it by its dilation: nothing is computed twice, and every layer works on a window of
        tile + 2 * d_i steps that was written moments before. Same maths, and the same zero padding at both ends
        of the sequence, as `forward` (float rounding may differ: the GEMMs see other shapes).
        """
        c, batch, steps = self.n_channels, x.shape[0], x.shape[2]
        w = self._tensors(x.dtype)
        cond = cond.to(x.dtype)
        cond_weight, cond_bias = w["cond"]
        dilations = [layer.dilation[0] for layer in self.in_layers]
        reach = [d * (layer.kernel_size[0] - 1) // 2 for d, layer in zip(dilations, self.in_layers)]
        # buffers[i] holds h_i for positions [done[i] - reach[i], ready[i]): zeros stand for the padding before 0
        buffers = [x.new_zeros(batch, c, r) for r in reach]
        done, ready = [0] * self.n_layers, [0] * self.n_layers
        skip = x.new_zeros(batch, c, steps)
        skip_bias = sum(bias[c:] if i < self.n_layers - 1 else bias for i, (_, bias) in enumerate(w["res_skip"]))
        front = 0
        while done[-1] < steps:
            front += tile
            # h_0 = start(x), position-wise: produce it up to where layer 0 will read
            stop = min(steps, front + reach[0])
            if stop > ready[0]:
                new = F.conv1d(x[..., ready[0]:stop], *w["start"])
                buffers[0] = torch.cat([buffers[0], new], 2)
                ready[0] = stop
            for i, ((in_weight, in_bias), (weight, bias)) in enumerate(zip(w["in"], w["res_skip"])):
                # h_i is known up to ready[i]; the conv needs reach[i] beyond the last output (or the sequence end)
                lo, hi = done[i], steps if ready[i] >= steps else ready[i] - reach[i]
                if hi <= lo:
                    continue
                window = buffers[i]
                need = hi + reach[i] - (lo - reach[i])
                if window.shape[2] < need:  # past the end of the sequence: zero padding
                    window = torch.cat([window, window.new_zeros(batch, c, need - window.shape[2])], 2)
                window = window[..., :need]
                layer = self.in_layers[i]
                gate = F.conv1d(window, in_weight, in_bias + cond_bias[2 * c * i: 2 * c * (i + 1)],
                                dilation=layer.dilation)
                gate.baddbmm_(cond_weight[2 * c * i: 2 * c * (i + 1)].expand(batch, -1, -1), cond[..., lo:hi])
                acts = gate[:, :c].tanh_().mul_(gate[:, c:].sigmoid_())
                if i < self.n_layers - 1:
                    centre = window[..., reach[i]: reach[i] + hi - lo]
                    new = torch.baddbmm(centre, weight[:c].expand(batch, -1, -1), acts).add_(bias[:c, None])
                    buffers[i + 1] = torch.cat([buffers[i + 1], new], 2)
                    ready[i + 1] = hi
                    weight = weight[c:]
                skip[..., lo:hi].baddbmm_(weight.expand(batch, -1, -1), acts)
                done[i] = hi
                buffers[i] = buffers[i][..., hi - lo:]  # keep reach[i] steps before the next start
        return F.conv1d(skip + skip_bias[:, None], *w["end"])

    def weight_normed_convs(self) -> list[nn.Conv1d]:
        """The convolutions NVIDIA trains under weight norm (all but `end`)."""
        return [self.start, self.cond_layer, *self.in_layers, *self.res_skip_layers]

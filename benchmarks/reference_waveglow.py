"""A plain re-implementation of NVIDIA's WaveGlow inference, the baseline for benchmarks/vocoder_speed.py.

Written from the paper and the documented semantics (tests/fixtures/golden/README.md), not from NVIDIA's code. It
keeps the reference's structure where that structure costs time or memory:
  * the conditioning conv of every WN is applied once for all its layers, materialising
    [B, 2 * n_channels * n_layers, T / n_group] (4096 channels for the official config);
  * the tanh * sigmoid gate is a TorchScript function, as in the reference;
  * W^-1 of each 1x1 conv is computed once and kept, as the reference caches it.
Weights come from a `waveglow.WaveGlow` in NVIDIA's key layout, so both implementations run the same numbers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from waveglow.vocoder.checkpoint import ours_to_nvidia


@torch.jit.script
def gated_activation(a: torch.Tensor, b: torch.Tensor, n_channels: int) -> torch.Tensor:
    x = a + b
    return torch.tanh(x[:, :n_channels]) * torch.sigmoid(x[:, n_channels:])


class ReferenceWaveGlow:
    """Inference only: `infer(mel, sigma, z)` with z in forward layout, as `waveglow.WaveGlow.infer`."""

    def __init__(self, model):
        self.cfg = model.config
        self.w = {k: v.detach() for k, v in ours_to_nvidia(model.state_dict()).items()}
        self.n_remaining = model.n_remaining_channels
        self.w_inverse = {}

    def _wn(self, k: int, audio: torch.Tensor, spect: torch.Tensor) -> torch.Tensor:
        w, p, c = self.w, f"WN.{k}.", self.cfg.n_channels
        audio = F.conv1d(audio, w[p + "start.weight"], w[p + "start.bias"])
        spect = F.conv1d(spect, w[p + "cond_layer.weight"], w[p + "cond_layer.bias"])
        output = torch.zeros_like(audio)
        for i in range(self.cfg.n_layers):
            d = 2**i
            pad = d * (self.cfg.kernel_size - 1) // 2
            in_act = F.conv1d(audio, w[f"{p}in_layers.{i}.weight"], w[f"{p}in_layers.{i}.bias"], dilation=d,
                              padding=pad)
            acts = gated_activation(in_act, spect[:, 2 * c * i: 2 * c * (i + 1)], c)
            res_skip = F.conv1d(acts, w[f"{p}res_skip_layers.{i}.weight"], w[f"{p}res_skip_layers.{i}.bias"])
            if i < self.cfg.n_layers - 1:
                audio = audio + res_skip[:, :c]
                output = output + res_skip[:, c:]
            else:
                output = output + res_skip
        return F.conv1d(output, w[p + "end.weight"], w[p + "end.bias"])

    @torch.no_grad()
    def infer(self, mel: torch.Tensor, sigma: float, z: torch.Tensor) -> torch.Tensor:
        cfg, w = self.cfg, self.w
        spect = F.conv_transpose1d(mel, w["upsample.weight"], w["upsample.bias"], stride=cfg.hop_length)
        spect = spect[:, :, : -(cfg.upsample_kernel_size - cfg.hop_length)]
        spect = spect.unfold(2, cfg.n_group, cfg.n_group).permute(0, 2, 1, 3)
        spect = spect.contiguous().view(spect.size(0), spect.size(1), -1).permute(0, 2, 1)

        g, size = cfg.n_group, cfg.n_early_size
        audio = sigma * z[:, g - self.n_remaining:]
        for k in reversed(range(cfg.n_flows)):
            n_half = audio.size(1) // 2
            audio_0, audio_1 = audio[:, :n_half], audio[:, n_half:]
            output = self._wn(k, audio_0, spect)
            s, b = output[:, n_half:], output[:, :n_half]
            audio = torch.cat([audio_0, (audio_1 - b) / torch.exp(s)], 1)
            if k not in self.w_inverse:
                self.w_inverse[k] = w[f"convinv.{k}.conv.weight"].squeeze(-1).float().inverse().unsqueeze(-1)
            audio = F.conv1d(audio, self.w_inverse[k])
            if k % cfg.n_early_every == 0 and k > 0:
                j = k // cfg.n_early_every - 1
                audio = torch.cat([sigma * z[:, j * size: (j + 1) * size], audio], 1)
        return audio.permute(0, 2, 1).contiguous().view(audio.size(0), -1)

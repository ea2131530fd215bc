"""Multi-resolution STFT distance (Yamamoto et al., Parallel WaveGAN 2020): spectral convergence + log-magnitude L1,
averaged over several FFT sizes. One definition for the training loss on inverse-flow samples and for the
evaluation column (full band, or only the bins up to `max_hz`).
"""
from __future__ import annotations

import torch
from torch import nn

#: (n_fft, hop, win) per resolution: Parallel WaveGAN's three, which span ~23 ms to ~93 ms windows at 22.05 kHz.
DEFAULT_RESOLUTIONS = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))


class MultiResolutionSTFTDistance(nn.Module):
    """forward(predicted [B, T], target [B, T]) -> scalar: mean over resolutions of
    ||S_t - S_p||_F / ||S_t||_F + mean |log S_t - log S_p| (S: STFT magnitudes, clamped at 1e-7).

    sampling_rate and max_hz: keep only the bins at or below max_hz (None: full band). Runs in float32 whatever the
    inputs' dtype (autocast is switched off inside), and is differentiable in `predicted`.
    """

    def __init__(self, resolutions=DEFAULT_RESOLUTIONS, sampling_rate: int = 22050, max_hz: float | None = None):
        super().__init__()
        self.resolutions = tuple(tuple(int(v) for v in r) for r in resolutions)
        for n_fft, hop, win in self.resolutions:
            if not (0 < win <= n_fft and hop > 0):
                raise ValueError(f"STFT resolution needs 0 < win <= n_fft and hop > 0, got {(n_fft, hop, win)}")
            self.register_buffer(f"window_{win}", torch.hann_window(win), persistent=False)
        self.sampling_rate = sampling_rate
        self.max_hz = max_hz

    def _magnitude(self, audio: torch.Tensor, n_fft: int, hop: int, win: int) -> torch.Tensor:
        spec = torch.stft(audio, n_fft, hop, win, getattr(self, f"window_{win}"), center=True, pad_mode="reflect",
                          return_complex=True)
        if self.max_hz is not None:
            spec = spec[:, : int(self.max_hz * n_fft / self.sampling_rate) + 1]
        return spec.abs().clamp_min(1e-7)

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if predicted.shape != target.shape:
            raise ValueError(f"predicted {list(predicted.shape)} and target {list(target.shape)} differ in shape")
        with torch.autocast(predicted.device.type, enabled=False):
            predicted, target = predicted.float(), target.float()
            total = predicted.new_zeros(())
            for n_fft, hop, win in self.resolutions:
                p, t = self._magnitude(predicted, n_fft, hop, win), self._magnitude(target, n_fft, hop, win)
                convergence = torch.linalg.vector_norm(t - p, dim=(1, 2)) / torch.linalg.vector_norm(t, dim=(1, 2))
                log_l1 = (t.log() - p.log()).abs().mean(dim=(1, 2))
                total = total + (convergence + log_l1).mean()
            return total / len(self.resolutions)

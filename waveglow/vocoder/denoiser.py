"""WaveGlow's denoiser (as NVIDIA's `denoiser.py`): remove the model's own bias hiss by spectral subtraction.

The bias: what the model outputs for an all-zero log-mel (1, n_mel, 88) at sigma 0 (no noise at all). Its STFT
magnitude's first frame is a fixed spectrum the model adds under everything; `denoise(audio, strength)` subtracts
strength x that spectrum from every frame's magnitude, clamps at 0, keeps the phase and inverts the STFT.
STFT: n_fft 1024, hop 256, window 1024 periodic Hann, centred frames with reflect padding (torch.stft / istft,
which normalise the overlap-add by the summed squared window like NVIDIA's STFT class).
"""
from __future__ import annotations

import torch
from torch import nn

BIAS_FRAMES = 88  # NVIDIA's zero mel is (1, 80, 88); the channel count here follows the model


class Denoiser(nn.Module):
    """Denoiser(model)(audio [B, T] or [T], strength=0.1) -> float32 audio of the same shape, on the model's device.

    n_mel_channels comes from the model's config (NVIDIA hard-codes 80). The bias is computed once, in the model's
    dtype, with an all-zero latent (sigma 0), so building a Denoiser draws no random numbers.
    """

    def __init__(self, model, n_fft: int = 1024, hop_length: int = 256, win_length: int = 1024,
                 bias_frames: int = BIAS_FRAMES, precision: str | None = None):
        super().__init__()
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        parameter = next(model.parameters())
        self.register_buffer("window", torch.hann_window(win_length, device=parameter.device), persistent=False)
        config = model.config
        zero_mel = torch.zeros(1, config.n_mel_channels, bias_frames, device=parameter.device, dtype=parameter.dtype)
        steps = bias_frames * config.hop_length // config.n_group
        zero_latent = torch.zeros(1, config.n_group, steps)
        with torch.no_grad():
            bias_audio = model.infer(zero_mel, sigma=0.0, z=zero_latent, precision=precision).float()
        bias_spectrum = self.magnitude_and_phase(bias_audio)[0][:, :, :1]  # [1, n_freq, 1]: its first frame
        self.register_buffer("bias_spectrum", bias_spectrum, persistent=False)

    def _stft(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.stft(audio, self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, center=True, pad_mode="reflect", return_complex=True)

    def magnitude_and_phase(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """audio [B, T] float32 -> (magnitude, phase angle), each [B, n_fft // 2 + 1, 1 + T // hop]."""
        spectrum = self._stft(audio)
        return spectrum.abs(), spectrum.angle()

    @torch.no_grad()
    def forward(self, audio: torch.Tensor, strength: float = 0.1) -> torch.Tensor:
        squeeze = audio.dim() == 1
        audio = (audio.unsqueeze(0) if squeeze else audio).to(self.window.device, torch.float32)
        magnitude, phase = self.magnitude_and_phase(audio)
        cleaned = torch.clamp(magnitude - strength * self.bias_spectrum, min=0.0)
        out = torch.istft(torch.polar(cleaned, phase), self.n_fft, hop_length=self.hop_length,
                          win_length=self.win_length, window=self.window, center=True, length=audio.shape[-1])
        return out.squeeze(0) if squeeze else out

"""Mel-envelope projection (waveglow.audio.envelope) and WaveGlowConfig.envelope_iterations: the output's mel
converges on the target, its phase and the band the mel does not cover are kept, the flow itself is untouched."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow import WaveGlow, WaveGlowConfig
from waveglow.audio import MelSpectrogram
from waveglow.audio.envelope import MelEnvelopeProjection
from waveglow.common.errors import ConfigError

pytestmark = pytest.mark.usefixtures("one_thread")
RATE, HOP = 22050, 256
FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ljspeech"


def speech(seconds: float = 1.5) -> torch.Tensor:
    audio, rate = sf.read(FIXTURE_DIR / "wavs" / "LJ050-0030.flac", dtype="float32")
    assert rate == RATE
    return torch.from_numpy(audio[: int(seconds * RATE)])


def test_projection_moves_the_mel_onto_the_target_and_keeps_phase_and_the_band_above_fmax():
    mel = MelSpectrogram(check_range=False)
    recording = speech()
    target = mel(recording)
    # the same waveform with a wrong envelope: low band +12 dB, the rest -6 dB, plus a 10 kHz tone above fmax
    spec = torch.stft(recording, 1024, 256, window=torch.hann_window(1024), return_complex=True)
    tilt = torch.where(torch.arange(spec.shape[0]) < 60, 4.0, 0.5)[:, None]
    distorted = torch.istft(spec * tilt, 1024, 256, window=torch.hann_window(1024), length=len(recording))
    t = torch.arange(len(recording)) / RATE
    hiss = 0.01 * torch.sin(2 * np.pi * 10_000 * t)
    projection = MelEnvelopeProjection()
    before = (mel(distorted + hiss) - target).abs().mean()
    errors = [float((mel(projection.project(distorted + hiss, target, n)) - target).abs().mean()) for n in (1, 4)]
    assert float(before) > 0.8 and errors[0] < 0.5 * float(before) and errors[1] < 0.2 * float(before)
    out = projection.project(distorted + hiss, target, 4)
    # the 10 kHz tone, which no filter of the 0-8 kHz mel covers, passes as it is
    tone = lambda x: float(torch.fft.rfft(x)[round(10_000 * len(x) / RATE)].abs())
    assert tone(out) == pytest.approx(tone(distorted + hiss), rel=0.05)
    # phase kept: the output is (close to) the recording itself, not a new phase reconstruction
    low = lambda x: torch.fft.irfft(torch.fft.rfft(x) * (torch.fft.rfftfreq(len(x), 1 / RATE) < 8000), len(x))
    correlation = torch.nn.functional.cosine_similarity(low(out), low(recording), dim=0)
    assert float(correlation) > 0.95
    # iterations 0 is the identity; batched input works item by item; bad shapes are refused
    assert torch.equal(projection.project(distorted, target, 0), distorted)
    batched = projection.project(torch.stack([distorted, recording]), torch.stack([target, target]), 2)
    torch.testing.assert_close(batched[0], projection.project(distorted, target, 2), atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="iterations"):
        projection.project(distorted, target, -1)
    with pytest.raises(ValueError, match="log_mel"):
        projection.project(torch.stack([distorted, distorted]), target[None], 1)


def test_envelope_iterations_apply_to_infer_only_and_load_from_config(tmp_path):
    config = dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16,
                  upsample_kernel_size=64, conditioning="group")
    torch.manual_seed(0)
    plain = WaveGlow(WaveGlowConfig(**config)).eval()
    projected = plain.with_config(envelope_iterations=3)
    assert projected.config == WaveGlowConfig(**config, envelope_iterations=3) and not projected.training
    recording = speech(1.0)
    mel = MelSpectrogram()(recording)[None]
    z = plain.draw_latent(1, mel.shape[2] * HOP // 8, torch.Generator().manual_seed(1))
    raw, out = plain.infer(mel, z=z), projected.infer(mel, z=z)
    features = MelSpectrogram(check_range=False)
    error = lambda audio: float((features(audio[0])[:, : mel.shape[2]] - mel[0]).abs().mean())
    assert error(out) < 0.5 * error(raw)
    torch.testing.assert_close(projected.reverse(mel, z, 0.666), plain.reverse(mel, z, 0.666))  # training path
    audio = recording[: (mel.shape[2] - 1) * HOP][None]
    for a, b in zip(projected(audio, mel), plain(audio, mel)):  # the likelihood is the flow's
        torch.testing.assert_close(a, b)
    projected.save_pretrained(tmp_path / "voice")
    assert WaveGlow.from_pretrained(tmp_path / "voice").config.envelope_iterations == 3
    with pytest.raises(ConfigError, match="envelope_iterations"):
        WaveGlowConfig(envelope_iterations=-1)

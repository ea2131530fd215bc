"""Periodicity at the pitch period (waveglow.audio.periodicity) and the training term built on it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from waveglow.audio.excitation import excitation, f0_per_sample
from waveglow.audio.periodicity import PeriodicityDistance, f0_of_excitation, periodicity
from waveglow.common.errors import ConfigError
from waveglow.training import Trainer, TrainingConfig
from waveglow.vocoder.config import WaveGlowConfig
from waveglow.vocoder.model import WaveGlow

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ljspeech"
RATE, HOP = 22050, 256

pytestmark = pytest.mark.usefixtures("one_thread")


def gliding_voice(n_frames: int = 60, unvoiced=slice(40, 48)):
    """F0 frames gliding 160 -> 240 Hz with an unvoiced gap; its excitation [1, 2, T]; a harmonic tone on it [1, T]."""
    frames = np.linspace(160.0, 240.0, n_frames + 1)
    frames[unvoiced] = 0.0
    n = n_frames * HOP
    contour, voiced = f0_per_sample(frames, n, HOP)
    phase = 0.3 + 2 * np.pi * np.cumsum(contour) / RATE
    tone = sum(0.3 / k * np.cos(k * phase + k) for k in range(1, 9)) * voiced
    return frames, torch.from_numpy(excitation(frames, n, HOP, RATE))[None], torch.from_numpy(tone)[None].float()


def test_f0_is_read_back_from_the_excitations_phase():
    frames, exc, _ = gliding_voice()
    f0, voiced = f0_of_excitation(exc, RATE)
    contour, expected_voiced = f0_per_sample(frames, exc.shape[2], HOP)
    inner = torch.from_numpy(expected_voiced)[None].clone()
    inner[:, 1:] &= inner[:, :-1].clone()  # the first sample of a voiced run has no phase advance to read
    inner[:, 0] = False
    assert torch.equal(voiced, inner)
    assert torch.allclose(f0[voiced].double(), torch.from_numpy(contour)[None][voiced], atol=0.05)
    assert (f0[~voiced] == 0).all()


def test_a_periodic_voice_scores_one_noise_zero_whatever_the_level():
    _, exc, tone = gliding_voice()
    f0, voiced = f0_of_excitation(exc, RATE)
    r, frames = periodicity(tone, f0, voiced, RATE)
    assert frames.sum() >= 40 and not frames[0, 40 * HOP // HOP - 1: 48].any()  # frames touching the gap are out
    assert r[frames].min() > 0.999
    quiet, _ = periodicity(tone * 1e-2, f0, voiced, RATE)
    torch.testing.assert_close(quiet[frames], r[frames], atol=1e-4, rtol=0)  # -40 dB counts like 0 dB
    noise, _ = periodicity(torch.randn(tone.shape, generator=torch.Generator().manual_seed(0)), f0, voiced, RATE)
    assert noise[frames].abs().mean() < 0.1
    half, _ = periodicity(tone + 0.1 * torch.randn(tone.shape, generator=torch.Generator().manual_seed(1)),
                          f0, voiced, RATE)
    assert 0.3 < half[frames].mean() < 0.99  # partly periodic: in between


def test_distance_is_zero_on_the_recording_has_a_gradient_and_ignores_unvoiced_samples():
    _, exc, tone = gliding_voice()
    distance = PeriodicityDistance(RATE)
    assert float(distance(tone, tone, exc)) == pytest.approx(0.0, abs=1e-6)
    noisy = (tone + 0.2 * torch.randn(tone.shape, generator=torch.Generator().manual_seed(2))).requires_grad_()
    value = distance(noisy, tone, exc)
    value.backward()
    assert float(value.detach()) > 0.1 and noisy.grad.abs().sum() > 0
    changed = noisy.detach().clone()
    changed[:, 42 * HOP: 46 * HOP] += 1.0  # inside the unvoiced gap, away from every voiced frame's reach
    assert float(distance(changed, tone, exc)) == pytest.approx(float(value.detach()), abs=1e-6)
    assert float(distance(tone, tone, torch.zeros_like(exc))) == 0.0  # nothing voiced: no term


def _config(periodicity_weight: float, excitation_channels: int = 2) -> TrainingConfig:
    model = WaveGlowConfig(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16,
                           upsample_kernel_size=64, conditioning="group", excitation_channels=excitation_channels)
    return TrainingConfig.from_dict({
        "model": model.to_dict(),
        "train": {"iterations": 2, "batch_size": 2, "segment_length": 4096, "seed": 7, "checkpoint_every": 2,
                  "eval_every": 1000, "log_every": 1,
                  "spectral_loss": {"weight": 0.5, "every": 1, "sigma": 0.6, "periodicity_weight": periodicity_weight}},
        "data": {"eval_max_seconds": 5, "eval_audio_samples": 0}})


def test_training_adds_the_periodicity_gradient_of_the_inverse_sample(tmp_path):
    from waveglow.audio.stft_distance import MultiResolutionSTFTDistance

    trainer = Trainer(_config(3.0), FIXTURE_DIR, tmp_path / "a", show_progress=False)
    reference = Trainer(_config(0.0), FIXTURE_DIR, tmp_path / "b", show_progress=False)
    mel, audio, exc = next(iter(trainer._loader(0, 0)))
    assert exc.abs().sum() > 0  # the fixture clips are speech: some of the segment is voiced
    torch.manual_seed(11)
    stats = trainer.train_step(mel, audio, exc)
    torch.manual_seed(11)
    z = torch.randn(mel.shape[0], 8, mel.shape[2] * HOP // 8)
    model = reference.model
    sample = model.reverse(mel, z, 0.6, excitation=exc)[:, : audio.shape[1]]
    term = PeriodicityDistance(RATE)(sample, audio, exc)
    assert 0 < stats.periodicity_loss == pytest.approx(float(term.detach()), rel=1e-5)
    nll = WaveGlow.loss(*model(audio, mel, excitation=exc), 1.0)
    (nll + 0.5 * MultiResolutionSTFTDistance()(sample, audio) + 3.0 * term).backward()
    for (name, p), q in zip(reference.model.named_parameters(), trainer.model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-6, msg=name)
    trainer.fit()
    logged = [json.loads(line) for line in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    assert any(m.get("periodicity_loss") is not None for m in logged if m["kind"] == "train")


def test_periodicity_term_needs_an_excitation_and_a_non_negative_weight():
    with pytest.raises(ConfigError, match="excitation_channels"):
        _config(1.0, excitation_channels=0)
    with pytest.raises(ConfigError, match="periodicity_weight"):
        _config(-1.0)
    assert _config(1.0).train.spectral_loss.enabled

"""The sine excitation (waveglow.audio.excitation) and a WaveGlow that reads it as extra conditioning."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow_data.dataset import AudioMelDataset
from waveglow_data.ljspeech import Utterance
from waveglow import WaveGlow, WaveGlowConfig
from waveglow.audio import MelSpectrogram
from waveglow.vocoder.checkpoint import infer_config, ours_to_nvidia
from waveglow.vocoder.harmonic import harmonic_basis
from waveglow.audio.excitation import excitation, f0_per_sample, f0_track
from waveglow.audio.griffin_lim import GriffinLimVocoder
from waveglow.vocoder.long_form import infer_chunked
from waveglow.training import Trainer, TrainingConfig

FIXTURE_DIR = Path(__file__).parent / "fixtures" / "ljspeech"
RATE, HOP = 22050, 256

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(**kw) -> WaveGlowConfig:
    base = dict(n_flows=4, n_group=8, n_early_every=2, n_early_size=2, n_layers=2, n_channels=16,
                upsample_kernel_size=64, conditioning="group", excitation_channels=2)
    base.update(kw)
    return WaveGlowConfig(**base)


def random_model(config: WaveGlowConfig, dtype=torch.float64, seed: int = 3) -> WaveGlow:
    torch.manual_seed(seed)
    model = WaveGlow(config)
    with torch.no_grad():
        for p in model.parameters():  # away from the identity start, so the excitation's columns matter
            p.add_(0.1 * torch.randn_like(p))
    return model.to(dtype).eval()


def tone(f0_hz: np.ndarray, phase0: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic tone following the per-sample contour: (audio, its fundamental's phase)."""
    phase = phase0 + 2 * np.pi * np.cumsum(f0_hz) / RATE
    audio = 0.3 * np.cos(phase) + 0.1 * np.cos(2 * phase + 1.0) + 0.05 * np.cos(3 * phase - 0.4)
    return audio, phase


def test_excitation_follows_the_recordings_fundamental_and_is_zero_where_unvoiced():
    n = 40 * HOP
    frames = np.full(41, 180.0)
    frames[25:] = 0.0  # unvoiced from frame 25 on
    contour, voiced = f0_per_sample(frames, n, HOP)
    assert voiced[: 24 * HOP].all() and not voiced[26 * HOP:].any()
    assert np.allclose(contour, 180.0)  # held past the last voiced frame
    audio, phase = tone(contour)
    aligned = excitation(frames, n, HOP, RATE, audio=audio)
    assert aligned.shape == (2, n) and aligned.dtype == np.float32
    assert not aligned[:, 26 * HOP:].any()
    inner = slice(2 * HOP, 22 * HOP)  # away from the edges of the 23 ms window
    assert np.abs(aligned[1, inner] - np.cos(phase[inner])).max() < 0.05
    assert np.abs(aligned[0, inner] - np.sin(phase[inner])).max() < 0.05
    free = excitation(frames, n, HOP, RATE)  # inference: the phase integrated from F0, starting at 0
    assert free[1, 0] == pytest.approx(1.0, abs=1e-2)
    assert np.corrcoef(free[1, inner], np.cos(phase[inner]))[0, 1] == pytest.approx(math.cos(0.7), abs=0.02)


def test_excitation_model_is_exactly_invertible_and_its_logdet_is_the_jacobians():
    model = random_model(tiny())
    n = 2 * HOP
    audio = 0.2 * torch.rand(1, n, dtype=torch.float64) - 0.1
    mel = torch.randn(1, 80, 2, dtype=torch.float64)
    exc = torch.randn(1, 2, n, dtype=torch.float64)
    z, logdet = model(audio, mel, exc)
    torch.testing.assert_close(model.reverse(mel, z, 1.0, exc), audio, atol=1e-12, rtol=0)
    jacobian = torch.autograd.functional.jacobian(lambda x: model(x[None], mel, exc)[0].reshape(-1), audio[0])
    assert float(logdet[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jacobian)[1]), abs=1e-9)
    # the excitation is read: another one gives another latent
    assert not torch.allclose(model(audio, mel, exc.flip(-1))[0], z)


def test_excitation_is_required_and_refused_where_it_does_not_belong():
    model = random_model(tiny(), torch.float32)
    mel, z = torch.randn(1, 80, 2), torch.randn(1, 8, 64)
    with pytest.raises(ValueError, match="needs an excitation"):
        model.reverse(mel, z)
    with pytest.raises(ValueError, match=r"excitation must be \[1, 2, T\]"):
        model.reverse(mel, z, excitation=torch.zeros(1, 3, 512))
    plain = random_model(tiny(excitation_channels=0), torch.float32)
    with pytest.raises(ValueError, match="takes no excitation"):
        plain.reverse(mel, z, excitation=torch.zeros(1, 2, 512))
    with pytest.raises(Exception, match="excitation_channels"):
        tiny(excitation_channels=3)


def test_infer_derives_the_excitation_from_the_mel_and_long_form_keeps_its_phase():
    audio, _ = sf.read(FIXTURE_DIR / "wavs" / "LJ050-0030.flac", dtype="float32")
    mel = MelSpectrogram()(torch.from_numpy(audio[: 60 * HOP]))[None]
    model = random_model(tiny(), torch.float32)
    exc = model.excitation_of_mel(mel)
    assert exc.shape == (1, 2, mel.shape[2] * HOP) and (exc != 0).any()
    z = model.draw_latent(1, mel.shape[2] * HOP // 8, torch.Generator().manual_seed(0))
    full = model.infer(mel, z=z)
    torch.testing.assert_close(full, model.infer(mel, z=z, excitation=exc))
    torch.testing.assert_close(infer_chunked(model, mel, 0.666, z=z, chunk_frames=16), full, atol=1e-5, rtol=1e-5)


def test_shapes_tell_an_excitation_model_without_its_config():
    for conditioning, kernel in (("group", 64), ("audio", 256)):
        config = tiny(conditioning=conditioning, upsample_kernel_size=kernel)
        state = ours_to_nvidia(WaveGlow(config).state_dict())
        assert infer_config(state, {}, "x.pt") == config
    assert infer_config(ours_to_nvidia(WaveGlow(tiny(excitation_channels=0)).state_dict()), {}, "x.pt") \
        .excitation_channels == 0


def test_dataset_items_carry_the_aligned_excitation_and_cache_the_clips_f0(tmp_path, monkeypatch):
    path = FIXTURE_DIR / "wavs" / "LJ001-0002.flac"
    utt = Utterance("LJ001-0002", path, "x")
    dataset = AudioMelDataset([utt], segment_length=4096, excitation=True, f0_cache_dir=tmp_path / "f0")
    mel, audio, exc = dataset[0]
    assert exc.shape == (2, 4096) and mel.shape == (80, 17)
    assert (tmp_path / "f0" / "LJ001-0002.f0.npy").is_file()
    clip, _ = sf.read(path, dtype="float32")
    start = dataset.segment_start(0, len(clip))
    whole = excitation(dataset.clip_f0(utt, clip), len(clip), HOP, RATE, audio=clip)
    torch.testing.assert_close(exc, torch.from_numpy(whole[:, start:start + 4096]))
    monkeypatch.setattr("waveglow_data.dataset.f0_track", lambda *a, **k: pytest.fail("F0 recomputed despite the cache"))
    again = AudioMelDataset([utt], segment_length=4096, excitation=True, f0_cache_dir=tmp_path / "f0")
    torch.testing.assert_close(again[0][2], exc)


def test_training_with_an_excitation_and_init_from_a_model_without_one(tmp_path):
    source = random_model(tiny(excitation_channels=0), torch.float32)
    source.save_pretrained(tmp_path / "plain")
    data = {"model": tiny().to_dict(),
            "train": {"iterations": 2, "batch_size": 2, "segment_length": 2048, "seed": 7, "checkpoint_every": 2,
                      "eval_every": 1000, "log_every": 1, "spectral_loss": {"weight": 1.0, "every": 2}},
            "data": {"eval_max_seconds": 5, "eval_audio_samples": 0}}
    trainer = Trainer(TrainingConfig.from_dict(data), FIXTURE_DIR, tmp_path / "run", show_progress=False)
    trainer.initialize_from(tmp_path / "plain")
    # the excitation's conditioning columns start at zero: the new model is the old one whatever the excitation
    mel, z = torch.randn(1, 80, 5), torch.randn(1, 8, 5 * HOP // 8)
    torch.testing.assert_close(trainer.model.eval().infer(mel, z=z, excitation=torch.randn(1, 2, 5 * HOP)),
                               source.infer(mel, z=z), atol=1e-5, rtol=1e-5)
    trainer.model.train()
    trainer.fit()
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(m.get("spectral_loss") is not None for m in metrics if m["kind"] == "train")
    final = WaveGlow.from_pretrained(tmp_path / "run" / "final")
    assert final.config.excitation_channels == 2
    assert (tmp_path / "run" / "f0").is_dir()


def test_harmonic_source_is_an_exact_shift_that_starts_at_zero_and_is_inferred_from_shapes():
    model = random_model(tiny(harmonics=3))
    n = 2 * HOP
    audio = 0.2 * torch.rand(1, n, dtype=torch.float64) - 0.1
    mel = torch.randn(1, 80, 2, dtype=torch.float64)
    phase = torch.linspace(0, 40, n, dtype=torch.float64)
    exc = torch.stack([phase.sin(), phase.cos()])[None]
    z, logdet = model(audio, mel, exc)
    torch.testing.assert_close(model.reverse(mel, z, 1.0, exc), audio, atol=1e-12, rtol=0)
    jacobian = torch.autograd.functional.jacobian(lambda x: model(x[None], mel, exc)[0].reshape(-1), audio[0])
    assert float(logdet[0].detach()) == pytest.approx(float(torch.linalg.slogdet(jacobian)[1]), abs=1e-9)
    cond = model.condition(mel, n, exc)
    mean = model.source_mean(cond, exc, n)
    assert mean.abs().max() > 0  # the amplitudes were randomised: the source sounds
    # the source is what separates the flow's input from the audio
    plain = model.harmonic
    model.harmonic = None
    z_plain, _ = model(audio - mean, mel, exc)
    model.harmonic = plain
    torch.testing.assert_close(z_plain, z)
    assert infer_config(ours_to_nvidia(model.state_dict()), {}, "x.pt").harmonics == 3
    fresh = WaveGlow(tiny(harmonics=3))
    assert not fresh.source_mean(fresh.condition(mel.float(), n, exc.float()), exc.float(), n).any()
    with pytest.raises(Exception, match="harmonics"):
        tiny(harmonics=2, excitation_channels=0)


def test_aligned_harmonics_carry_each_harmonics_own_phase_from_the_recording_or_griffin_lim():
    n = 40 * HOP
    frames = np.full(41, 180.0)
    contour, _ = f0_per_sample(frames, n, HOP)
    audio, phase = tone(contour)  # harmonics 2 and 3 sit at phase offsets 1.0 and -0.4 from k times the fundamental
    aligned = excitation(frames, n, HOP, RATE, audio=audio, harmonics=3)
    assert aligned.shape == (6, n)
    inner = slice(2 * HOP, 38 * HOP)
    for k, offset in ((1, 0.0), (2, 1.0), (3, -0.4)):
        assert np.abs(aligned[2 * k - 1, inner] - np.cos(k * phase[inner] + offset)).max() < 0.05
        assert np.abs(aligned[2 * k - 2, inner] - np.sin(k * phase[inner] + offset)).max() < 0.05
    np.testing.assert_array_equal(excitation(frames, n, HOP, RATE, audio=audio)[:2], aligned[:2])
    # the basis of the harmonic source is then the tone itself: its amplitudes need not average wandering phases
    basis = harmonic_basis(torch.from_numpy(aligned)[None], 3)[0].numpy()
    fit = basis[:, inner].T @ np.array([0.3, 0.1, 0.05, 0, 0, 0])
    assert np.abs(fit - audio[inner]).max() < 0.03
    recurrence = harmonic_basis(torch.from_numpy(aligned[:2])[None], 3)[0].numpy()
    assert np.abs(recurrence[:, inner].T @ np.array([0.3, 0.1, 0.05, 0, 0, 0]) - audio[inner]).max() > 0.1
    # a harmonic at or above the Nyquist frequency is silent where it would alias: at 300 Hz, 36 x 300 = 10,800 Hz
    # sounds and 37 x 300 = 11,100 Hz (> 11,025) does not
    high, _ = tone(np.full(4 * HOP, 300.0))
    loud = np.abs(excitation(np.full(5, 300.0), 4 * HOP, HOP, RATE, audio=high, harmonics=48)).reshape(48, -1).sum(1)
    assert (loud[:36] > 0).all() and not loud[36:].any()

    # a model with aligned_harmonics: the same shapes, forward derives the 2K rows, inverse stays exact with them,
    # and inference (no recording) aligns them to the mel's Griffin-Lim audio instead
    model = random_model(tiny(harmonics=3, aligned_harmonics=True))
    assert set(model.state_dict()) == set(random_model(tiny(harmonics=3)).state_dict())
    mel = torch.randn(1, 80, 40, dtype=torch.float64)
    x = torch.from_numpy(audio[None])
    z, _ = model(x, mel)
    rows = model.excitation_of_audio(x)
    assert rows.shape == (1, 6, n)
    torch.testing.assert_close(model.reverse(mel, z, 1.0, rows), x, atol=1e-10, rtol=0)
    assert model.infer(mel, sigma=0.0, excitation=rows[:, :2]).shape == (1, n)
    with pytest.raises(ValueError, match="excitation must be"):
        model(x, mel, rows[:, :4])
    speech, _ = sf.read(FIXTURE_DIR / "wavs" / "LJ050-0030.flac", dtype="float32")
    speech_mel = MelSpectrogram()(torch.from_numpy(speech[: 60 * HOP]))[None, :, :60]
    inferred = model.excitation_of_mel(speech_mel)
    griffin_lim = GriffinLimVocoder().mel_to_audio(speech_mel[0].numpy())[: 60 * HOP]
    f0 = f0_track(griffin_lim, RATE, HOP)[:60]
    assert inferred.shape == (1, 6, 60 * HOP) and (f0 > 0).any()
    np.testing.assert_allclose(inferred[0].numpy(), excitation(f0, 60 * HOP, HOP, RATE, audio=griffin_lim,
                                                               harmonics=3), atol=1e-6)
    plain = random_model(tiny(harmonics=3), torch.float32).excitation_of_mel(speech_mel)
    np.testing.assert_allclose(plain[0].numpy(), excitation(f0, 60 * HOP, HOP, RATE), atol=1e-6)
    with pytest.raises(Exception, match="aligned_harmonics"):
        tiny(harmonics=0, aligned_harmonics=True)

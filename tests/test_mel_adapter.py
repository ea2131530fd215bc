"""waveglow.audio.mel_adapter: foreign mel conventions -> the vocoder's, checked on real LJSpeech audio.

Each foreign mel is made here from the audio with that front end's documented formula (written independently of
the adapter), converted back, and compared with our `MelSpectrogram` of the same audio.
"""
import warnings

import librosa
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from waveglow.audio.mel_adapter import (LJSPEECH_PEAK, LJSPEECH_UTTERANCE_MEAN, LJSPEECH_UTTERANCE_STD, CoquiMel,
                             FilterbankProjector, HifiGanMel, MelDomainWarning, MelFilterbank, MelFormatError,
                             convert_mel, detect_convention, domain_issues, to_vocoder_mel)
from waveglow.audio import MelSpectrogram, dft_conv_basis, load_wav, periodic_hann_window

from conftest import FIXTURES

CLIPS = sorted((FIXTURES / "ljspeech" / "wavs").glob("*.flac"))
N_FFT, HOP, RATE = 1024, 256, 22050
EXACT = 1e-4  # nats, where the source filterbank equals ours
REPROJECTED = 0.2  # mean nats, where it does not


@pytest.fixture(scope="module")
def clips():
    return [load_wav(path)[0] for path in CLIPS]


@pytest.fixture(scope="module")
def ours(clips):
    mel = MelSpectrogram()
    return [mel(torch.from_numpy(a)).double().numpy() for a in clips]


# ---- foreign front ends, from their documented formulas ----------------------------------------------------------
def dft_frames(audio: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary STFT parts [513, frames] of `audio` reflect-padded by `pad` on both sides, frames of
    1024 every 256 samples with no further padding (the same DFT arithmetic as MelSpectrogram)."""
    x = F.pad(torch.from_numpy(audio)[None, None], (pad, pad), mode="reflect")
    basis = dft_conv_basis(N_FFT, periodic_hann_window(N_FFT, N_FFT))
    out = F.conv1d(x, basis, stride=HOP)[0].double().numpy()
    return out[: N_FFT // 2 + 1], out[N_FFT // 2 + 1:]


def filters(fmin, fmax, n_mels=80):
    return librosa.filters.mel(sr=RATE, n_fft=N_FFT, n_mels=n_mels, fmin=fmin, fmax=fmax).astype(np.float64)


def centred_magnitude(audio):
    re, im = dft_frames(audio, N_FFT // 2)  # torch.stft(center=True, pad_mode="reflect") framing
    return np.sqrt(re ** 2 + im ** 2)


def coqui_mel(audio, fmax=8000.0, symmetric=True, max_norm=4.0):
    """Coqui AudioProcessor.melspectrogram: 20 log10(max(1e-5, mel)) - ref_level_db(20), then
    (S - min_level_db) / -min_level_db (min_level_db -100), scaled to [-max_norm, max_norm] or [0, max_norm],
    clipped."""
    mel = filters(0.0, fmax) @ centred_magnitude(audio)
    s = 20 * np.log10(np.maximum(1e-5, mel)) - 20.0
    unit = (s + 100.0) / 100.0
    if symmetric:
        return np.clip(2 * max_norm * unit - max_norm, -max_norm, max_norm)
    return np.clip(max_norm * unit, 0, max_norm)


def espnet_feats(audio):
    """ESPnet2 LogMelFbank (TTS): amplitude sqrt(max(re^2 + im^2, 1e-10)), 80-7600 Hz filters, log10(max(., 1e-10)),
    stored [frames, 80]."""
    re, im = dft_frames(audio, N_FFT // 2)
    amplitude = np.sqrt(np.maximum(re ** 2 + im ** 2, 1e-10))
    return np.log10(np.maximum(filters(80.0, 7600.0) @ amplitude, 1e-10)).T


def hifigan_mel(audio):
    """HiFi-GAN meldataset.mel_spectrogram: reflect pad (n_fft - hop) / 2, center=False, sqrt(|X|^2 + 1e-9),
    0-8000 Hz filters, ln(max(mel, 1e-5)); returned [1, 80, frames] as torch, like its data loader."""
    re, im = dft_frames(audio, (N_FFT - HOP) // 2)
    mel = filters(0.0, 8000.0) @ np.sqrt(re ** 2 + im ** 2 + 1e-9)
    return torch.from_numpy(np.log(np.maximum(mel, 1e-5)))[None]


def convert_quietly(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", MelDomainWarning)  # an in-domain clip must not warn
        return convert_mel(*args, **kwargs)


# ---- round trips: filterbank identical to ours -> exact --------------------------------------------------------
def test_nvidia_mel_passes_through_in_every_layout(ours):
    mel = ours[0].astype(np.float32)
    for layout_variant in (mel, mel.T, mel[None], torch.from_numpy(mel)[None]):
        out = convert_quietly(layout_variant)
        assert out.convention.name == "nvidia" and out.detected
        np.testing.assert_array_equal(out.mel, mel)


@pytest.mark.parametrize("name,make,params", [
    ("log10", lambda mel: np.log10(np.maximum(mel, 1e-5)), {}),
    ("db", lambda mel: 20 * np.log10(np.maximum(mel, 1e-5)) - 20.0, {"ref_level_db": 20.0}),
])
def test_log10_and_db_scales_exact(clips, ours, name, make, params):
    for audio, expected in zip(clips, ours):
        foreign = make(filters(0.0, 8000.0) @ centred_magnitude(audio))
        out = convert_quietly(foreign, name, params=params)
        assert np.abs(out.mel - expected).max() <= EXACT


@pytest.mark.parametrize("symmetric,max_norm", [(True, 4.0), (False, 1.0)])
def test_coqui_normalised_exact_where_not_clipped(clips, ours, symmetric, max_norm):
    config = {"audio": {"num_mels": 80, "mel_fmin": 0.0, "mel_fmax": 8000.0, "ref_level_db": 20, "min_level_db": -100,
                        "symmetric_norm": symmetric, "max_norm": max_norm, "clip_norm": True, "signal_norm": True,
                        "spec_gain": 20.0, "log_func": "np.log10", "preemphasis": 0.0, "griffin_lim_iters": 60}}
    for audio, expected in zip(clips, ours):
        foreign = coqui_mel(audio, symmetric=symmetric, max_norm=max_norm)
        out = convert_quietly(foreign, "coqui", params=config)
        low = -max_norm if symmetric else 0.0
        inside = (foreign > low) & (foreign < max_norm)
        assert inside.mean() > 0.9
        assert np.abs(out.mel - expected)[inside].max() <= EXACT
        # clipped bins come back at Coqui's floor: 10 ** ((min_level_db + ref_level_db) / 20) = 1e-4
        assert np.allclose(out.mel[foreign <= low], np.log(1e-4), atol=1e-6)
        # and the range alone identifies the convention (with these, Coqui's LJSpeech defaults)
        auto = convert_mel(foreign, "auto", warn=False)
        assert auto.detected and isinstance(auto.convention, CoquiMel)
        np.testing.assert_allclose(auto.mel, out.mel, atol=1e-6)


def test_hifigan_shift_keeps_values_on_half_hop_later_frames(clips):
    for audio in clips:
        foreign = hifigan_mel(audio)  # [1, 80, T // 256]
        out = convert_quietly(foreign, "hifigan")
        assert out.mel.shape == (80, len(audio) // HOP)
        # HiFi-GAN frame i = our frame i of the audio advanced by half a hop (interior frames: same samples)
        later = MelSpectrogram()(torch.from_numpy(audio[HOP // 2:])).double().numpy()
        n = min(out.mel.shape[1], later.shape[1]) - 3
        diff = np.abs(out.mel[:, 2:n] - later[:, 2:n])
        loud = later[:, 2:n] > -6.0  # the + 1e-9 under HiFi-GAN's square root lifts quiet bins (up to ~4e-4 nats)
        assert diff[loud].max() <= EXACT
        assert diff.mean() <= 1e-3


# ---- round trips needing re-projection or re-framing -> mean error bound ------------------------------------------
def mean_error(converted, expected):
    n = min(converted.shape[1], expected.shape[1])
    return float(np.abs(converted[:, :n] - expected[:, :n]).mean())


def test_espnet_80_7600_with_global_mvn_reprojected(clips, ours):
    feats = [espnet_feats(a) for a in clips]
    stacked = np.concatenate(feats)  # ESPnet feats_stats.npz: count, sum, sum_square over all frames
    stats = {"count": np.array(len(stacked)), "sum": stacked.sum(0), "sum_square": (stacked ** 2).sum(0)}
    mean, std = stacked.mean(0), stacked.std(0)
    errors = []
    for feat, expected in zip(feats, ours):
        normalised = (feat - mean) / std
        out = convert_quietly(normalised, "espnet", stats=stats)
        assert out.layout == "frames-first" and out.mel.shape == expected.shape
        errors.append(mean_error(out.mel, expected))
        # without stats
        np.testing.assert_allclose(convert_quietly(feat, "espnet").mel, out.mel, atol=1e-4)
    assert max(errors) <= REPROJECTED, errors


def test_coqui_full_band_filterbank_reprojected(clips, ours):
    errors = []
    for audio, expected in zip(clips, ours):
        foreign = coqui_mel(audio, fmax=RATE / 2)
        out = convert_quietly(foreign, "coqui", params={"mel_fmax": None})
        errors.append(mean_error(out.mel, expected))
    assert max(errors) <= REPROJECTED, errors


def test_power_db_reprojected(clips, ours):
    errors = []
    for audio, expected in zip(clips, ours):
        power_mel = filters(0.0, 8000.0) @ centred_magnitude(audio) ** 2  # librosa melspectrogram(power=2)
        foreign = 10 * np.log10(np.maximum(power_mel, 1e-10))  # librosa power_to_db(ref=1, amin=1e-10)
        out = convert_quietly(foreign, "db", params={"multiplier": 10.0, "spectrum_power": 2.0})
        errors.append(mean_error(out.mel, expected))
    assert max(errors) <= REPROJECTED, errors


def test_hifigan_interpolated_onto_our_frames(clips, ours):
    for audio, expected in zip(clips, ours):
        out = convert_quietly(hifigan_mel(audio), HifiGanMel(alignment="interpolate"))
        assert out.mel.shape == expected.shape  # 1 + T // 256 frames, like MelSpectrogram
        assert mean_error(out.mel, expected) <= REPROJECTED


def test_projector_is_identity_for_identical_filterbanks(ours):
    linear = np.exp(ours[0])
    fb = MelFilterbank()
    assert FilterbankProjector(fb, fb)(linear) is linear


def test_projector_refuses_other_stft_grids():
    with pytest.raises(MelFormatError, match="different STFT grids"):
        FilterbankProjector(MelFilterbank(sampling_rate=16000), MelFilterbank())


# ---- layout and convention errors -----------------------------------------------------------------------------------
def test_square_mel_is_ambiguous_without_layout_or_format(ours):
    square = ours[0][:, :80]
    with pytest.raises(MelFormatError, match="ambiguous"):
        convert_mel(square)
    as_float32 = square.astype(np.float32)
    np.testing.assert_array_equal(to_vocoder_mel(square, layout="mels-first", warn=False), as_float32)
    np.testing.assert_array_equal(to_vocoder_mel(square, layout="frames-first", warn=False), as_float32.T)
    np.testing.assert_array_equal(to_vocoder_mel(square, "nvidia", warn=False), as_float32)  # its native layout


@pytest.mark.parametrize("bad,match", [
    (np.zeros((80, 0)), "empty"),
    (np.zeros(80), "rank 1"),
    (np.zeros((2, 80, 10)), "rank 3"),
    (np.zeros((81, 10)) - 5, "no axis of size 80"),
    (np.array([[np.nan] * 10] * 80), "1 NaN|800 NaN"),
    (np.full((80, 10), np.inf), "800 infinite"),
    (np.zeros((80, 10), dtype=np.int64), "floating-point"),
])
def test_bad_mels_raise_clear_errors(bad, match):
    with pytest.raises(MelFormatError, match=match):
        convert_mel(bad)


def test_decibel_values_need_an_explicit_format(clips):
    db = 20 * np.log10(np.maximum(filters(0.0, 8000.0) @ centred_magnitude(clips[0]), 1e-5))
    with pytest.raises(MelFormatError, match="decibels.*--mel-format"):
        detect_convention(db)


def test_unknown_parameters_are_named():
    with pytest.raises(MelFormatError, match="refernce"):
        convert_mel(np.zeros((80, 5)) - 5, "db", params={"refernce": 1})


# ---- domain warnings -------------------------------------------------------------------------------------------------
def test_reference_statistics_match_the_shipped_clips(ours):
    means = [m.mean() for m in ours]
    stds = [m.std() for m in ours]
    peaks = [m.max() for m in ours]
    for measured, recorded in ((means, LJSPEECH_UTTERANCE_MEAN), (stds, LJSPEECH_UTTERANCE_STD),
                               (peaks, LJSPEECH_PEAK)):
        assert abs(min(measured) - recorded[0]) < 0.01 and abs(max(measured) - recorded[1]) < 0.01


def test_in_domain_mels_do_not_warn(ours):
    for mel in ours:
        assert domain_issues(mel) == []
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            convert_mel(mel)


@pytest.mark.parametrize("transform,expected", [
    (lambda m: m / np.log(10), "mean"),  # a log10 mel taken for natural log
    (lambda m: np.full_like(m, np.log(1e-5)), "mean"),  # digital silence
    (lambda m: m + 4.0, "peak"),  # 4 nats too loud
    (lambda m: m * 0.3 - 4.0, "standard deviation"),  # squashed dynamics
])
def test_out_of_domain_mels_warn_with_numbers(ours, transform, expected):
    with pytest.warns(MelDomainWarning, match=expected) as record:
        convert_mel(transform(ours[0]), "nvidia", what="x.npy")
    message = str(record[0].message)
    assert message.startswith("x.npy looks out of the vocoder's domain") and any(c.isdigit() for c in message)

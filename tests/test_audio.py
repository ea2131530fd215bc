"""waveglow.audio: Tacotron2 mel parity with NVIDIA's golden outputs, batching, configuration, loading."""
from __future__ import annotations

import json
import math
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow.audio import (MelConfig, MelSpectrogram, dynamic_range_compression, dynamic_range_decompression,
                            load_wav, periodic_hann_window, spectral_de_normalize, spectral_normalize)
from waveglow.common.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"
CLIPS = FIXTURES / "ljspeech" / "wavs"
# every golden TacotronSTFT file (the public LJ001-0001 one, plus any held-back clip dropped in beside it)
MEL_GOLDEN_FILES = sorted(GOLDEN.glob("mel_tacotron_stft*.npz"))


@pytest.fixture(scope="module")
def mel80():
    return MelSpectrogram()


def _max_errors(out: np.ndarray, expected: np.ndarray) -> tuple[float, float]:
    """(max |diff| everywhere, max |diff| where expected log-mel > -5)."""
    diff = np.abs(out - expected)
    return float(diff.max()), float(diff[expected > -5].max())


def test_golden_files_present():
    assert MEL_GOLDEN_FILES, f"no mel_tacotron_stft*.npz in {GOLDEN}"


@pytest.mark.parametrize("golden_path", MEL_GOLDEN_FILES, ids=lambda p: p.stem)
def test_filterbank_equals_golden(golden_path, mel80):
    golden = np.load(golden_path)
    np.testing.assert_array_equal(mel80.mel_basis.numpy(), golden["mel_basis"])


@pytest.mark.parametrize("golden_path", MEL_GOLDEN_FILES, ids=lambda p: p.stem)
def test_conv_stft_mel_matches_nvidia(golden_path, mel80):
    golden = np.load(golden_path)
    audio = golden["audio_float"]
    np.testing.assert_array_equal(audio, golden["audio_int16"].astype(np.float32) / 32768.0)
    with torch.no_grad():
        out = mel80(torch.from_numpy(audio)[None]).numpy()
    assert out.shape == golden["mel"].shape == (1, 80, 1 + audio.shape[0] // 256)
    overall, loud = _max_errors(out, golden["mel"])
    assert overall <= 1e-3, overall
    assert loud <= 1e-4, loud


@pytest.mark.parametrize("golden_path", MEL_GOLDEN_FILES, ids=lambda p: p.stem)
def test_torch_stft_backend(golden_path):
    """torch.stft backend: reproduces the golden torch.stft variant, and NVIDIA's mel at ~1e-3 (README sec. 4)."""
    golden = np.load(golden_path)
    with torch.no_grad():
        out = MelSpectrogram(stft_backend="torch")(torch.from_numpy(golden["audio_float"])[None]).numpy()
    overall, loud = _max_errors(out, golden["mel_torch_stft"])
    assert overall <= 1e-4 and loud <= 1e-5, (overall, loud)
    overall, loud = _max_errors(out, golden["mel"])
    assert overall <= 1e-3 and loud <= 2e-5, (overall, loud)


def test_waveglow_golden_mels_16_channels():
    """Non-default n_mels against the WaveGlow golden file: a whole clip loaded from FLAC, and training segments."""
    golden = np.load(GOLDEN / "waveglow_io.npz")
    mel16 = MelSpectrogram(n_mels=16)
    audio, rate = load_wav(CLIPS / "LJ001-0002.flac", sampling_rate=22050)
    with torch.no_grad():
        clip_mel = mel16(torch.from_numpy(audio))
        assert clip_mel.shape == (16, 1 + audio.shape[0] // 256)
        # infer_mel = frames [40, 64) of LJ001-0002's mel
        np.testing.assert_allclose(clip_mel[:, 40:64].numpy(), golden["infer_mel"][0], rtol=0, atol=1e-5)
        # train_mel = Mel2Samp.get_mel of each 4096-sample segment (computed one at a time)
        for item in range(2):
            segment_mel = mel16(torch.from_numpy(golden["train_audio"][item]))
            np.testing.assert_allclose(segment_mel.numpy(), golden["train_mel"][item], rtol=0, atol=1e-5)


# NVIDIA/tacotron2 hparams.py (185cd24): the audio block among other settings, as a Tacotron2 run's hparams hold it
TACOTRON2_HPARAMS = {"max_wav_value": 32768.0, "sampling_rate": 22050, "filter_length": 1024, "hop_length": 256,
                     "win_length": 1024, "n_mel_channels": 80, "mel_fmin": 0.0, "mel_fmax": 8000.0, "n_symbols": 148,
                     "encoder_kernel_size": 5, "p_attention_dropout": 0.1}


def test_mel_config_reads_nvidias_stft_section_and_computes_its_golden_mels():
    """The WaveGlow golden's "stft" settings (NVIDIA's names, 16 mels) are read by MelConfig.from_nvidia, written back
    key for key by to_nvidia, and the MelSpectrogram they make gives the golden mels."""
    stft = json.loads((GOLDEN / "golden_config.json").read_text())["waveglow"]["stft"]
    mel = MelConfig.from_nvidia(stft)
    assert mel == MelConfig(n_mels=16)
    assert mel.to_nvidia() == stft
    golden = np.load(GOLDEN / "waveglow_io.npz")
    audio, _ = load_wav(CLIPS / "LJ001-0002.flac", sampling_rate=22050)
    with torch.no_grad():
        clip_mel = mel.mel_spectrogram()(torch.from_numpy(audio))
    np.testing.assert_allclose(clip_mel[:, 40:64].numpy(), golden["infer_mel"][0], rtol=0, atol=1e-5)


def test_mel_config_round_trips_every_convention_it_reads():
    """Ours (exports' "mel"), NVIDIA's (data_config / Tacotron2 hparams.py) and MelSpectrogram's arguments: each
    written by MelConfig reads back to the same config, under exactly the names each convention uses."""
    mel = MelConfig(sampling_rate=16000, n_fft=512, win_length=400, hop_length=128, n_mels=40, fmin=50.0, fmax=None)
    assert list(mel.to_dict()) == ["sampling_rate", "n_fft", "win_length", "hop_length", "n_mels", "fmin", "fmax",
                                   "log_base"]
    assert MelConfig.from_dict(mel.to_dict()) == mel
    assert list(mel.to_nvidia()) == ["sampling_rate", "filter_length", "hop_length", "win_length", "n_mel_channels",
                                     "mel_fmin", "mel_fmax"]
    assert MelConfig.from_nvidia(mel.to_nvidia()) == mel
    data_config = mel.to_nvidia(with_n_mels=False)
    assert list(data_config) == list(MelConfig.nvidia_names(with_n_mels=False)) == [
        "sampling_rate", "filter_length", "hop_length", "win_length", "mel_fmin", "mel_fmax"]
    assert MelConfig.from_nvidia(data_config, n_mels=40) == mel
    spectrogram = MelSpectrogram(**mel.spectrogram_settings())
    assert spectrogram.config == MelConfig.from_fields(spectrogram) == mel
    # Tacotron2's hparams: the mel fields are read, the others left alone; the defaults are NVIDIA's TacotronSTFT
    tacotron2 = MelConfig.from_nvidia(TACOTRON2_HPARAMS)
    assert tacotron2 == MelConfig()
    assert tacotron2.to_nvidia().items() <= TACOTRON2_HPARAMS.items()
    assert torch.equal(tacotron2.mel_spectrogram().mel_basis, MelSpectrogram().mel_basis)


def test_mel_config_errors_use_the_names_of_the_convention_read():
    with pytest.raises(ConfigError, match=r"^data: 'filter_length' must be a positive integer, got 1.5$"):
        MelConfig.from_nvidia({"filter_length": 1.5}, source="data")
    with pytest.raises(ConfigError, match=r"0 <= mel_fmin < mel_fmax <= sampling_rate / 2 = 8000.0"):
        MelConfig.from_nvidia({"sampling_rate": 16000, "mel_fmax": 9000.0})
    with pytest.raises(ConfigError, match=r"'mel_fmin' must be a number"):
        MelConfig.from_nvidia({"mel_fmin": "0"})
    with pytest.raises(ConfigError, match="n_mel_channels 80 differs from the model's 16"):
        MelConfig.from_nvidia(TACOTRON2_HPARAMS, n_mels=16)
    with pytest.raises(ConfigError, match=r"^mel 'n_fft' must be a positive integer"):
        MelConfig(n_fft=0)
    with pytest.raises(ConfigError, match=r"0 <= fmin < fmax <= sampling_rate / 2 = 8000.0, got fmin=0.0, fmax=9000"):
        MelConfig(sampling_rate=16000, fmax=9000)


def _clip(name: str) -> torch.Tensor:
    return torch.from_numpy(load_wav(CLIPS / f"{name}.flac")[0])


def test_batch_equals_individual(mel80):
    long_clip, short_clip = _clip("LJ001-0002"), _clip("LJ002-0020")
    batch = torch.zeros(2, long_clip.shape[0])
    batch[0] = long_clip
    batch[1, :short_clip.shape[0]] = short_clip  # zero-padded like a collated batch
    with torch.no_grad():
        batched = mel80(batch)
        alone_long, alone_short = mel80(long_clip), mel80(short_clip)
    assert batched.shape == (2, 80, 1 + long_clip.shape[0] // 256)
    torch.testing.assert_close(batched[0], alone_long, rtol=0, atol=1e-4)
    # frames whose window ends inside the short clip do not see the padding; later ones legitimately differ
    # (zeros and their reflection instead of the reflected clip end)
    untouched = (short_clip.shape[0] - 512) // 256 + 1
    torch.testing.assert_close(batched[1, :, :untouched], alone_short[:, :untouched], rtol=0, atol=1e-4)
    assert not torch.allclose(batched[1, :, untouched:alone_short.shape[1]], alone_short[:, untouched:])

    # the unpadded batch of two equal-length clips gives each clip's own frames
    pair = torch.stack([long_clip[:30000], short_clip[:30000]])
    with torch.no_grad():
        torch.testing.assert_close(mel80(pair)[1], mel80(short_clip[:30000]), rtol=0, atol=1e-4)


@pytest.mark.parametrize("n_samples", [513, 1000, 4096, 4097, 16000])
def test_frame_count(mel80, n_samples):
    audio = torch.linspace(-0.5, 0.5, n_samples)
    assert mel80(audio).shape == (80, 1 + n_samples // 256) == (80, mel80.num_frames(n_samples))
    assert mel80(audio[None].repeat(3, 1)).shape == (3, 80, 1 + n_samples // 256)


def _reference_log_mel(audio: np.ndarray, sr, n_fft, hop, win, n_mels, fmin, fmax, floor) -> np.ndarray:
    """Independent float64 numpy reference: reflect pad, Hann-windowed frames, rfft magnitude, librosa filters."""
    window = np.zeros(n_fft)
    left = (n_fft - win) // 2
    window[left:left + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    padded = np.pad(audio.astype(np.float64), n_fft // 2, mode="reflect")
    n_frames = 1 + audio.shape[0] // hop
    frames = np.stack([padded[t * hop:t * hop + n_fft] for t in range(n_frames)])
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).T
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, norm="slaney")
    return np.log(np.maximum(basis.astype(np.float64) @ magnitude, floor))


@pytest.mark.parametrize("backend", ["conv", "torch"])
@pytest.mark.parametrize("config", [
    dict(sampling_rate=16000, n_fft=512, hop_length=128, win_length=400, n_mels=40, fmin=50.0, fmax=None,
         clamp_min=1e-4),
    dict(sampling_rate=22050, n_fft=2048, hop_length=300, win_length=1200, n_mels=100, fmin=0.0, fmax=11025.0,
         clamp_min=1e-5),
])
def test_other_configurations_match_float64_reference(config, backend):
    audio = _clip("LJ001-0002")[:20000]
    mel = MelSpectrogram(stft_backend=backend, **config)
    with torch.no_grad():
        out = mel(audio).numpy()
    expected = _reference_log_mel(audio.numpy(), config["sampling_rate"], config["n_fft"], config["hop_length"],
                                  config["win_length"], config["n_mels"], config["fmin"], config["fmax"],
                                  config["clamp_min"])
    assert out.shape == (config["n_mels"], 1 + 20000 // config["hop_length"])
    assert out.min() >= math.log(config["clamp_min"]) - 1e-6
    overall, loud = _max_errors(out, expected)
    assert overall <= 2e-3 and loud <= 1e-4, (overall, loud)


def test_window_is_scipy_periodic_hann_centred():
    import scipy.signal

    for win in (1024, 800, 1001):
        expected = librosa.util.pad_center(scipy.signal.get_window("hann", win, fftbins=True), size=1024)
        np.testing.assert_array_equal(periodic_hann_window(win, 1024).numpy(), expected.astype(np.float32))
        np.testing.assert_array_equal(periodic_hann_window(win, 1024, float64_cosine=False).numpy()[
            (1024 - win) // 2:(1024 - win) // 2 + win], torch.hann_window(win).numpy())


def test_buffers_follow_to_and_stay_out_of_state_dict():
    mel = MelSpectrogram(n_mels=16)
    assert mel.state_dict() == {}
    audio = _clip("LJ002-0020")[:8000]
    with torch.no_grad():
        out32 = mel(audio)
        mel64 = mel.to(torch.float64)
        assert mel64.mel_basis.dtype == mel64.dft_basis.dtype == torch.float64
        out64 = mel64(audio.double())
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), out32, rtol=0, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("backend", ["conv", "torch"])
def test_cuda_matches_cpu(backend):
    golden = np.load(MEL_GOLDEN_FILES[0])
    mel = MelSpectrogram(stft_backend=backend)
    audio = torch.from_numpy(golden["audio_float"])[None]
    with torch.no_grad():
        on_gpu = mel.to("cuda")(audio.cuda()).cpu().numpy()
    overall, loud = _max_errors(on_gpu, golden["mel"])
    assert overall <= 1e-3 and loud <= 1e-4, (overall, loud)


def test_out_of_range_audio_is_rejected_with_its_extremes(mel80):
    audio = torch.zeros(2, 4000)
    audio[1, 10] = 1.5
    audio[0, 20] = -1.25
    with pytest.raises(ValueError, match=r"min -1\.25, max 1\.5"):
        mel80(audio)
    with pytest.raises(ValueError, match="nan"):
        mel80(torch.full((4000,), float("nan")))
    with pytest.raises(ValueError, match="int16"):
        mel80(torch.zeros(4000, dtype=torch.int16))
    with pytest.raises(ValueError, match="too short"):
        mel80(torch.zeros(512))
    with pytest.raises(ValueError, match=r"\[B, T\]"):
        mel80(torch.zeros(1, 1, 4000))
    # full scale is allowed (int16 -32768 / 32768 == -1)
    assert mel80(torch.full((4000,), -1.0)).shape == (80, 16)


def test_invalid_configuration():
    with pytest.raises(ValueError, match="stft_backend"):
        MelSpectrogram(stft_backend="fft")
    with pytest.raises(ValueError, match="fmax"):
        MelSpectrogram(sampling_rate=16000, fmax=8001.0)
    with pytest.raises(ValueError, match="win_length"):
        MelSpectrogram(n_fft=512, win_length=1024)


def test_dynamic_range_pair():
    linear = torch.tensor([0.0, 1e-7, 1e-5, 0.5, 3.0])
    log = dynamic_range_compression(linear)
    expected = torch.log(torch.tensor([1e-5, 1e-5, 1e-5, 0.5, 3.0]))
    torch.testing.assert_close(log, expected)
    torch.testing.assert_close(spectral_normalize(linear), expected)
    torch.testing.assert_close(dynamic_range_decompression(log)[2:], linear[2:])
    torch.testing.assert_close(spectral_de_normalize(log)[2:], linear[2:])
    # compression factor C scales before the log and is divided out after the exp
    torch.testing.assert_close(dynamic_range_compression(linear[3:], C=10.0), torch.log(linear[3:] * 10.0))
    torch.testing.assert_close(dynamic_range_decompression(dynamic_range_compression(linear[3:], C=10.0), C=10.0),
                               linear[3:])


def test_load_wav_is_int16_over_32768(tmp_path):
    audio, rate = load_wav(CLIPS / "LJ002-0020.flac")
    assert rate == 22050 and audio.dtype == np.float32 and audio.ndim == 1
    as_int = sf.read(CLIPS / "LJ002-0020.flac", dtype="int16")[0]
    np.testing.assert_array_equal(audio, as_int.astype(np.float32) / 32768.0)
    # the same samples stored as WAV read identically
    sf.write(tmp_path / "clip.wav", as_int, 22050, subtype="PCM_16")
    np.testing.assert_array_equal(load_wav(tmp_path / "clip.wav", sampling_rate=22050)[0], audio)


def test_load_wav_resamples_on_request(tmp_path):
    t = np.arange(16000) / 16000.0
    tone = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    sf.write(tmp_path / "tone16k.wav", tone, 16000, subtype="PCM_16")
    audio, rate = load_wav(tmp_path / "tone16k.wav", sampling_rate=22050, resample=True)
    assert rate == 22050 and audio.shape == (22050,) and audio.dtype == np.float32
    # still a 440 Hz tone of amplitude 0.5 (away from the edges)
    expected = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(22050) / 22050.0)
    np.testing.assert_allclose(audio[1000:-1000], expected[1000:-1000], atol=2e-3)

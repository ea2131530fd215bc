"""Text -> speech pipeline: sentence splitting, text checks, Festival front end, Griffin-Lim fallback, Synthesizer
with the golden Tacotron2 / WaveGlow, and the `waveglow tts` command."""
from __future__ import annotations

import logging
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow import WaveGlow
from waveglow.audio import MelSpectrogram, mel_filterbank, resample_audio
from waveglow.audio.griffin_lim import FALLBACK_LABEL, GriffinLimVocoder, nonnegative_least_squares
from waveglow.cli import main as cli_main
from tts import FrontendError, SynthesisError, Synthesizer
from tts.festival import FestivalFrontend, INSTALL_COMMAND
from tts.pipeline import check_text, split_sentences, write_wav_atomic
from waveglow.vocoder.inference import choose_vocoder, default_vocoder_path
from tts.tacotron2 import MaxDecoderStepsWarning

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
TACOTRON2 = GOLDEN / "tacotron2_nvidia_train_style.pt"  # 80 mels
WAVEGLOW_16_MELS = GOLDEN / "waveglow_nvidia_train_style.pt"
LOG_FLOOR = math.log(1e-5)

needs_festival = pytest.mark.skipif(shutil.which("text2wave") is None,
                                    reason=f"Festival is not installed ({INSTALL_COMMAND})")
# The tiny golden Tacotron2 often runs to its 30-step limit; that warning is expected here.
ignore_max_steps = pytest.mark.filterwarnings("ignore", category=MaxDecoderStepsWarning)


class RecordingFrontend:
    """Stand-in front end: a deterministic mel of 4 frames per character; remembers what it was asked."""

    name = "recording"
    sampling_rate = None

    def __init__(self, n_mel_channels: int = 80):
        self.n_mel_channels = n_mel_channels
        self.calls: list[str] = []

    def text_to_mel(self, text: str) -> torch.Tensor:
        self.calls.append(text)
        frames = 4 * len(text)
        t = torch.arange(frames, dtype=torch.float32)
        bands = torch.arange(self.n_mel_channels, dtype=torch.float32)[:, None]
        return -6.0 + 2.0 * torch.sin(0.3 * t + 0.2 * bands)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The models here are tiny: one thread is fastest, and much faster than two on busy shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def no_shipped_vocoder(monkeypatch):
    """Act as if no default WaveGlow were shipped, so vocoder=None means the Griffin-Lim fallback."""
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: None)


# ---------------------------------------------------------------------------------------------------------------
# sentences and text checks


@pytest.mark.parametrize("text, expected", [
    ("Hello there. How are you?", ["Hello there.", "How are you?"]),
    ("Mr. Smith met Dr. Jones on Baker St. today!", ["Mr. Smith met Dr. Jones on Baker St. today!"]),
    ("Pi is 3.14. It costs $2.50; cheap!", ["Pi is 3.14.", "It costs $2.50;", "cheap!"]),
    ("First line\nsecond line.\n\nThird", ["First line", "second line.", "Third"]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("J. R. R. Tolkien wrote it. The U.S. agreed.", ["J. R. R. Tolkien wrote it.", "The U.S. agreed."]),
    ("Wait... what?! Okay.", ["Wait...", "what?!", "Okay."]),
    ("  lots   of\tspace .  ", ["lots of space ."]),
    ("One. ... ! Two", ["One.", "Two"]),  # pieces with nothing speakable are dropped
])
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty_text_is_an_error(text):
    with pytest.raises(SynthesisError, match="empty"):
        check_text(text)


def test_text_without_letters_or_digits_is_an_error():
    with pytest.raises(SynthesisError, match="no letters or digits"):
        check_text("... ?!")


def test_length_limit_is_checked_before_any_synthesis():
    frontend = RecordingFrontend()
    synth = Synthesizer(frontend=frontend, vocoder="griffin-lim", max_chars=40)
    with pytest.raises(SynthesisError, match=r"41 characters long; the limit is 40"):
        synth.synthesize("a" * 41)
    with pytest.raises(SynthesisError, match="empty"):
        synth.synthesize("   ")
    assert frontend.calls == []
    synth.synthesize("  " + "a" * 40 + "  ")  # outer whitespace does not count
    assert frontend.calls == ["a" * 40]


# ---------------------------------------------------------------------------------------------------------------
# Festival front end


@needs_festival
def test_festival_mel_has_tacotron2_shape_and_a_speech_like_range():
    frontend = FestivalFrontend()
    audio, rate = frontend.synthesize_audio("Hello world, this is a test of the speech synthesizer.")
    assert audio.dtype == np.float32 and 1.5 < len(audio) / rate < 6.0  # ~11 words of speech
    mel = frontend.audio_to_mel(audio, rate)
    n_samples = len(resample_audio(audio, rate, 22050))
    assert tuple(mel.shape) == (80, 1 + n_samples // 256)
    assert float(mel.min()) >= LOG_FLOOR - 1e-4
    assert -3.0 < float(mel.max()) < 4.0  # LJSpeech mels peak around 0-2 (natural log)
    loud_frames = (mel.max(dim=0).values > -4.0).float().mean()
    assert loud_frames > 0.6  # edge silence is trimmed: most frames hold speech
    # voiced speech puts its energy in the low bands
    assert float(mel[:40].mean()) > float(mel[40:].mean()) + 1.0


@needs_festival
def test_festival_text_never_reaches_a_shell_or_scheme(tmp_path):
    marker = tmp_path / "injected"
    text = (f'Say "$(touch {marker})" and `touch {marker}`; (quit) then (system "touch {marker}") please, '
            "na\u00efve caf\u00e9.")  # non-ASCII too: Festival gets it transliterated
    audio, rate = FestivalFrontend().synthesize_audio(text)
    assert not marker.exists()
    assert len(audio) / rate > 2.0  # "(quit)" did not end synthesis early: the whole text was spoken


@needs_festival
def test_missing_festival_voice_names_the_install_command():
    with pytest.raises(FrontendError, match=re.escape("voice 'no_such_voice' is not installed")) as err:
        FestivalFrontend(voice="no_such_voice").synthesize_audio("Hello.")
    assert INSTALL_COMMAND in str(err.value)


def test_missing_festival_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH on which there is no festival
    with pytest.raises(FrontendError, match=re.escape(f"install it with: {INSTALL_COMMAND}")):
        FestivalFrontend().text_to_mel("Hello.")
    assert INSTALL_COMMAND == "apt-get install festival festvox-us-slt-hts"


def test_festival_voice_name_cannot_inject_scheme():
    with pytest.raises(ValueError, match="voice name"):
        FestivalFrontend(voice='x) (system "ls"')


# ---------------------------------------------------------------------------------------------------------------
# Griffin-Lim fallback


def lj001_second() -> np.ndarray:
    """1 s of real LJSpeech audio (LJ001-0001), float32 in [-1, 1]."""
    return np.load(GOLDEN / "mel_tacotron_stft.npz")["audio_float"][20000:20000 + 22050]


def test_nonnegative_least_squares_fits_real_mels_better_than_a_clipped_pseudo_inverse():
    log_mel = MelSpectrogram()(torch.from_numpy(lj001_second())).numpy()
    basis = mel_filterbank(22050, 1024, 80, 0.0, 8000.0).numpy()
    solution = nonnegative_least_squares(basis, np.exp(log_mel))
    assert solution.shape == (513, log_mel.shape[1]) and solution.dtype == np.float32 and (solution >= 0).all()

    def log_mel_error(magnitude):
        return float(np.abs(np.log(np.maximum(basis @ magnitude, 1e-5)) - log_mel).mean())

    clipped_pinv = np.maximum(np.linalg.pinv(basis) @ np.exp(log_mel), 0.0)
    assert log_mel_error(solution) < 0.01
    assert log_mel_error(solution) < 0.25 * log_mel_error(clipped_pinv)


def test_griffin_lim_reconstructs_the_mel_of_real_speech():
    mel = MelSpectrogram()(torch.from_numpy(lj001_second()))
    few, many = GriffinLimVocoder(n_iter=1), GriffinLimVocoder(n_iter=32)
    errors = {}
    for name, vocoder in (("few", few), ("many", many)):
        out = vocoder.mel_to_audio(mel)
        assert out.dtype == np.float32 and out.shape == (mel.shape[1] * 256,)
        remel = MelSpectrogram()(torch.from_numpy(np.clip(out, -1, 1)))[:, :mel.shape[1]]
        speech = mel > -6.0
        errors[name] = float((remel - mel)[speech].abs().mean())
    assert errors["many"] < 0.25  # natural-log units over the speech bins
    assert errors["many"] < 0.8 * errors["few"]  # the iterations are what recover a consistent phase


def test_griffin_lim_follows_the_mel_channel_count():
    mel16 = torch.full((16, 10), -5.0)
    assert GriffinLimVocoder(n_iter=2).mel_to_audio(mel16).shape == (2560,)
    with pytest.raises(ValueError, match=r"\[n_mels, frames\]"):
        GriffinLimVocoder().mel_to_audio(np.zeros((2, 80, 10)))


# ---------------------------------------------------------------------------------------------------------------
# Synthesizer


@ignore_max_steps
def test_tacotron2_and_griffin_lim_write_a_wav_of_the_expected_length(tmp_path):
    synth = Synthesizer(frontend="tacotron2", tacotron2=TACOTRON2, vocoder="griffin-lim", prenet_dropout=0.0,
                        griffin_lim_iters=4, pause_seconds=0.1)
    assert synth.is_fallback and "Griffin-Lim fallback" in synth.vocoder_label
    text = "Turn left on Main Street. Then stop!"
    frames = [synth.frontend.text_to_mel(s).shape[1] for s in split_sentences(text)]
    assert len(frames) == 2
    out = synth.synthesize_to_file(text, tmp_path / "speech.wav")
    info = sf.info(str(out))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (22050, 1, "PCM_16", "WAV")
    assert info.frames == sum(frames) * 256 + round(0.1 * 22050)
    audio, _ = sf.read(str(out), dtype="float32")
    assert np.abs(audio).max() > 1e-3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["speech.wav"]  # no temp file left behind


def test_tacotron2_with_a_16_mel_waveglow_is_a_clear_mismatch_error():
    with pytest.raises(SynthesisError, match=r"mel channel mismatch.*80-channel.*expects 16"):
        Synthesizer(frontend="tacotron2", tacotron2=TACOTRON2, vocoder=WAVEGLOW_16_MELS)


def test_tacotron2_frontend_needs_a_checkpoint():
    with pytest.raises(SynthesisError, match="--tacotron2 CKPT"):
        Synthesizer(frontend="tacotron2", vocoder="griffin-lim")


def test_pauses_are_inserted_between_sentences_only():
    text = "One. Two. Three."
    lengths = {}
    for pause in (0.0, 0.5):
        synth = Synthesizer(frontend=RecordingFrontend(), vocoder="griffin-lim", griffin_lim_iters=1,
                            pause_seconds=pause)
        audio, rate = synth.synthesize(text)
        lengths[pause] = len(audio)
        assert synth.frontend.calls == ["One.", "Two.", "Three."]
    assert lengths[0.0] == (16 + 16 + 24) * 256
    assert lengths[0.5] - lengths[0.0] == 2 * round(0.5 * 22050)


def test_vocoder_none_without_a_shipped_waveglow_is_the_labelled_fallback(no_shipped_vocoder, caplog):
    with caplog.at_level(logging.INFO, logger="tts"):
        synth = Synthesizer(frontend=RecordingFrontend(), vocoder=None)
    assert synth.is_fallback
    assert synth.vocoder_label.startswith(f"vocoder: {FALLBACK_LABEL}")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [synth.vocoder_label]


def test_default_vocoder_path_needs_a_config(tmp_path):
    assert default_vocoder_path(tmp_path) is None
    (tmp_path / "waveglow_default").mkdir()
    assert default_vocoder_path(tmp_path) is None
    WaveGlow.from_pretrained(WAVEGLOW_16_MELS).save_pretrained(tmp_path / "waveglow_default")
    assert default_vocoder_path(tmp_path) == tmp_path / "waveglow_default"


def test_vocoder_none_uses_the_shipped_waveglow(monkeypatch, tmp_path):
    shipped = tmp_path / "waveglow_default"
    WaveGlow.from_pretrained(WAVEGLOW_16_MELS).save_pretrained(shipped)
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: shipped)
    synth = Synthesizer(frontend=RecordingFrontend(n_mel_channels=16), vocoder=None, seed=7)
    assert not synth.is_fallback
    assert synth.vocoder_label.startswith(f"vocoder: WaveGlow ({shipped}")
    first, rate = synth.synthesize("Hi.")
    assert rate == 22050 and first.shape == (12 * 256,) and np.isfinite(first).all()
    again, _ = synth.synthesize("Hi.")
    np.testing.assert_array_equal(first, again)  # the seed fixes WaveGlow's latent on every call
    other, _ = Synthesizer(frontend=RecordingFrontend(n_mel_channels=16), vocoder=shipped, seed=8).synthesize("Hi.")
    assert np.abs(other - first).max() > 1e-4


@pytest.mark.parametrize("argument", ["none, no voice", "none, built-in voice", "griffin-lim", " Griffin_Lim ",
                                      "path", "Path", "WaveGlow"])
def test_tts_and_vocode_choose_the_same_vocoder(argument, monkeypatch, tmp_path):
    """One chooser (`select_vocoder`): `Synthesizer(vocoder=X)` speaks with what `waveglow vocode --checkpoint X`
    and `vocode(checkpoint=X)` use, adapted to mel_to_audio: the same loaded WaveGlow, or Griffin-Lim for the same
    reason."""
    shipped = tmp_path / "waveglow_default"
    WaveGlow.from_pretrained(WAVEGLOW_16_MELS).save_pretrained(shipped)
    found = None if argument == "none, no voice" else shipped
    monkeypatch.setattr("waveglow.vocoder.inference.default_vocoder_path", lambda assets_dir=None: found)
    value = {"none, no voice": None, "none, built-in voice": None, "path": str(WAVEGLOW_16_MELS),
             "Path": WAVEGLOW_16_MELS, "WaveGlow": WaveGlow.from_pretrained(WAVEGLOW_16_MELS)}.get(argument, argument)
    engine = choose_vocoder(value, device="cpu")
    synth = Synthesizer(frontend=RecordingFrontend(n_mel_channels=engine.config.n_mel_channels), vocoder=value,
                        device="cpu")
    assert synth.is_fallback == engine.is_fallback
    if engine.is_fallback:
        assert isinstance(synth.vocoder, GriffinLimVocoder)
        assert synth.vocoder.reason == engine.engine.reason
        assert synth.vocoder_label == f"vocoder: {engine.describe()}"
    else:
        assert synth.vocoder.engine is engine  # the one cached model
    assert synth.sampling_rate == engine.config.sampling_rate


def test_tts_and_vocode_refuse_the_same_arguments():
    with pytest.raises(TypeError, match="vocoder must be a WaveGlow, a checkpoint path") as vocode_error:
        choose_vocoder(12)
    with pytest.raises(SynthesisError) as tts_error:
        Synthesizer(frontend=RecordingFrontend(), vocoder=12)
    assert str(tts_error.value) == str(vocode_error.value)


def test_denoise_changes_waveglow_output_but_not_its_length():
    outputs = {}
    for strength in (0.0, 0.5):
        synth = Synthesizer(frontend=RecordingFrontend(n_mel_channels=16), vocoder=WAVEGLOW_16_MELS,
                            denoise=strength, seed=1)
        outputs[strength], _ = synth.synthesize("Hello.")
    assert "denoise 0.5" in synth.vocoder_label
    assert outputs[0.0].shape == outputs[0.5].shape == (24 * 256,)
    assert np.abs(outputs[0.0] - outputs[0.5]).max() > 1e-4


@needs_festival
def test_festival_mels_follow_the_waveglow_mel_channels():
    synth = Synthesizer(frontend="festival", vocoder=WAVEGLOW_16_MELS, seed=0)
    assert synth.frontend.n_mel_channels == 16
    audio, rate = synth.synthesize("Hello.")
    assert rate == 22050 and len(audio) % 256 == 0 and len(audio) > 0.2 * rate


def test_festival_and_the_demo_compute_the_mel_an_exported_model_states(tmp_path):
    """A model's config.json "mel" (here fmax 7600 Hz, n_fft 2048, not Tacotron2's) is the one source of the features
    it is fed: the Festival frontend of a Synthesizer and the demo's audio -> mel both compute exactly that mel."""
    from waveglow.audio.features import MelConfig
    from waveglow_demo import backend

    stated = MelConfig(n_fft=2048, win_length=2048, n_mels=16, fmax=7600.0)
    exported = WaveGlow.from_pretrained(WAVEGLOW_16_MELS).save_pretrained(tmp_path / "wg", mel=stated)
    synth = Synthesizer(frontend="festival", vocoder=exported, seed=0)  # building it runs no Festival
    assert synth.vocoder.mel == stated and synth.frontend.mel == stated
    choice = backend.resolve_vocoder(backend.CHECKPOINT, str(exported))
    assert backend.vocoder_mel(choice) == stated
    audio = np.sin(np.arange(22050) * 0.05).astype(np.float32) * 0.5
    expected = stated.mel_spectrogram()(torch.from_numpy(audio))
    torch.testing.assert_close(backend.audio_to_mel(audio, backend.vocoder_mel(choice)), expected, rtol=0, atol=0)
    torch.testing.assert_close(synth.frontend.audio_to_mel(audio, 22050), expected, rtol=0, atol=0)
    default = MelSpectrogram(n_mels=16)(torch.from_numpy(audio))  # Tacotron2's STFT: a different mel
    assert (default - expected).abs().max() > 0.1


def test_loud_vocoder_output_is_scaled_not_clipped():
    def loud_sine(n_samples):
        return 2.0 * np.sin(np.linspace(0, 100, n_samples)).astype(np.float32)

    class LoudVocoder:
        n_mel_channels, sampling_rate = 80, 22050

        def mel_to_audio(self, mel):
            return loud_sine(mel.shape[1] * 256)

    audio, _ = Synthesizer(frontend=RecordingFrontend(), vocoder=LoudVocoder()).synthesize("Loud.")
    sine = loud_sine(len(audio))
    np.testing.assert_allclose(audio, sine * (0.999 / np.abs(sine).max()), atol=1e-6)


def test_write_wav_atomic_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "out.wav"
    path.write_bytes(b"old")
    write_wav_atomic(path, np.zeros(100, dtype=np.float32), 22050)
    assert sf.info(str(path)).frames == 100
    write_wav_atomic(tmp_path / "new_dir" / "out.wav", np.zeros(10, dtype=np.float32), 22050)  # folder created
    assert sf.info(str(tmp_path / "new_dir" / "out.wav")).frames == 10
    with pytest.raises(ValueError):  # a failed write leaves neither a partial file nor a temp file behind
        write_wav_atomic(tmp_path / "bad.wav", np.array(["not audio"]), 22050)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new_dir", "out.wav"]


# ---------------------------------------------------------------------------------------------------------------
# waveglow tts


@needs_festival
def test_cli_festival_writes_a_wav_and_labels_the_fallback(tmp_path, capsys, no_shipped_vocoder):
    out = tmp_path / "hello.wav"
    assert cli_main(["tts", "Hello world. Goodbye.", "-o", str(out), "--griffin-lim-iters", "8"]) == 0
    printed = capsys.readouterr().out
    assert "frontend: Festival (voice cmu_us_slt_arctic_hts" in printed
    assert f"vocoder: {FALLBACK_LABEL}" in printed
    info = sf.info(str(out))
    assert (info.samplerate, info.subtype) == (22050, "PCM_16") and info.duration > 1.0
    assert f"wrote {out}: {info.duration:.2f} s at 22050 Hz" in printed


@ignore_max_steps
def test_cli_tacotron2_text_file_with_griffin_lim(tmp_path, capsys):
    text_file = tmp_path / "text.txt"
    text_file.write_text("Turn left.\nThen right.\n", encoding="utf-8")
    out = tmp_path / "speech.wav"
    code = cli_main(["tts", "--text-file", str(text_file), "-o", str(out), "--frontend", "tacotron2",
                     "--tacotron2", str(TACOTRON2), "--prenet-dropout", "0", "--checkpoint", "griffin-lim",
                     "--griffin-lim-iters", "2", "--pause", "0"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "frontend: Tacotron2" in printed and "vocoder: Griffin-Lim fallback" in printed
    assert sf.info(str(out)).frames % 256 == 0


@ignore_max_steps
def test_cli_phrases_file_writes_one_wav_per_line_and_reports_the_real_time_factor(tmp_path, capsys):
    """`tts -i phrases.txt -o out/` (DeepLearningExamples' -i): one wav per non-empty line, named by line number."""
    phrases = tmp_path / "phrases.txt"
    phrases.write_text("Turn left.\n\nThen right.\n", encoding="utf-8")
    out = tmp_path / "out"
    code = cli_main(["tts", "-i", str(phrases), "-o", str(out), "--frontend", "tacotron2", "--tacotron2",
                     str(TACOTRON2), "--prenet-dropout", "0", "--checkpoint", "griffin-lim", "--griffin-lim-iters",
                     "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["0001.wav", "0003.wav"]
    assert re.search(r"wrote 2 of 2 wav\(s\) into .*: [0-9.]+ s of audio in [0-9.]+ s \(real-time factor [0-9.]+\)",
                     printed)
    assert cli_main(["tts", "-i", str(phrases), "Also text.", "-o", str(out)]) == 2
    assert "exactly one" in capsys.readouterr().err


def test_cli_version_and_nvidia_flag_hints(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["--version"])
    assert exit_info.value.code == 0 and re.fullmatch(r"waveglow \S+\n", capsys.readouterr().out)
    with pytest.raises(SystemExit) as exit_info:
        cli_main(["vocode", "x.npy", "-o", "out", "-s", "0.6", "--is_fp16"])
    assert exit_info.value.code == 2
    assert "-s -> --sigma, --is_fp16 -> --precision fp16" in capsys.readouterr().err


@needs_festival
def test_cli_precision_reaches_the_waveglow(tmp_path, capsys):
    """--precision bf16 runs the WN in bf16 (labelled), close to fp32 for the same seed; fp16 on a CPU is refused."""
    outputs = {}
    for precision in ("fp32", "bf16"):
        outputs[precision] = tmp_path / f"{precision}.wav"
        assert cli_main(["tts", "Hello.", "-o", str(outputs[precision]), "--checkpoint", str(WAVEGLOW_16_MELS),
                         "--seed", "1", "--precision", precision, "--device", "cpu"]) == 0
    assert "bf16 WN" in capsys.readouterr().out
    full, half = (sf.read(str(outputs[p]))[0] for p in ("fp32", "bf16"))
    assert full.shape == half.shape and not np.array_equal(full, half)
    assert 10 * np.log10((full ** 2).sum() / ((full - half) ** 2).sum()) > 30
    assert cli_main(["tts", "Hello.", "-o", str(tmp_path / "x.wav"), "--checkpoint", str(WAVEGLOW_16_MELS),
                     "--precision", "fp16", "--device", "cpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_cli_without_festival_prints_the_install_command(tmp_path, capsys, monkeypatch, no_shipped_vocoder):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "never.wav"
    assert cli_main(["tts", "Hello.", "-o", str(out)]) == 2
    assert INSTALL_COMMAND in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["tts", "Hi.", "--frontend", "tacotron2", "--tacotron2", str(TACOTRON2), "--checkpoint", str(WAVEGLOW_16_MELS)],
     "mel channel mismatch"),
    (["tts", "   ", "--checkpoint", "griffin-lim"], "text is empty"),
    (["tts", "--checkpoint", "griffin-lim"], "exactly one"),
    (["tts", "Hi.", "--max-chars", "2", "--checkpoint", "griffin-lim"], "the limit is 2"),
    (["tts", "Hi.", "--device", "tpu", "--checkpoint", "griffin-lim"], "device 'tpu'"),
    (["tts", "Hi.", "--frontend", "tacotron2", "--checkpoint", "griffin-lim"], "needs a Tacotron2 checkpoint"),
])
def test_cli_errors_are_one_line(argv, message, tmp_path, capsys):
    assert cli_main(argv + ["-o", str(tmp_path / "x.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("waveglow tts: error:") and "\n" not in err


def test_progress_is_reported_after_each_sentence():
    reports = []
    synth = Synthesizer(frontend=RecordingFrontend(), vocoder="griffin-lim", griffin_lim_iters=1)
    synth.synthesize("One. Two. Three.", progress=lambda done, total: reports.append((done, total)))
    assert reports == [(1, 3), (2, 3), (3, 3)]


@ignore_max_steps
def test_cli_text_shows_a_bar_over_sentences_and_the_real_time_factor(tmp_path, capsys):
    out = tmp_path / "x.wav"
    code = cli_main(["tts", "Turn left. Then right.", "-o", str(out), "--frontend", "tacotron2", "--tacotron2",
                     str(TACOTRON2), "--prenet-dropout", "0", "--checkpoint", "griffin-lim", "--griffin-lim-iters",
                     "2"])
    captured = capsys.readouterr()
    assert code == 0
    assert "speaking" in captured.err and "2/2" in captured.err
    assert re.search(r"wrote .*x\.wav: [0-9.]+ s at 22050 Hz in [0-9.]+ s \(real-time factor [0-9.]+\)", captured.out)

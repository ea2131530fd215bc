"""`waveglow evaluate` and its metrics (waveglow.evaluation)."""
import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, GOLDEN
from waveglow.audio import load_wav
from waveglow.cli import main
from waveglow.evaluation import mcd, pitch, quality, wer
from waveglow.evaluation.runner import AVERAGED_METRICS, ROWS, row_metrics, stft_distance
from waveglow_data.splits import is_held_out

LJ = FIXTURES / "ljspeech"
GOLDEN_16_MEL = GOLDEN / "waveglow_nvidia_train_style.pt"


@pytest.fixture(scope="module")
def recording():
    audio, rate = load_wav(LJ / "wavs" / "LJ002-0198.flac")
    return audio, rate


def with_noise(audio: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """audio plus white noise at `snr_db` dB signal-to-noise ratio."""
    noise = np.random.default_rng(seed).standard_normal(audio.shape).astype(np.float32)
    noise *= np.sqrt(np.mean(audio ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return np.clip(audio + noise, -1.0, 1.0)


# ---- MCD -----------------------------------------------------------------------------------------------------------

def test_mcd_is_zero_for_identical_signals_and_grows_with_noise(recording):
    audio, rate = recording
    assert mcd.mel_cepstral_distortion(audio, audio.copy(), rate) == 0.0
    light = mcd.mel_cepstral_distortion(audio, with_noise(audio, 30.0), rate)
    heavy = mcd.mel_cepstral_distortion(audio, with_noise(audio, 0.0), rate)
    assert 0.0 < light < heavy


def test_mcd_dct_is_orthonormal_and_scale_is_the_standard_constant():
    basis = mcd.dct_ii_orthonormal(8)
    np.testing.assert_allclose(basis @ basis.T, np.eye(8), atol=1e-12)
    assert mcd.MCD_SCALE_DB == pytest.approx(10 / np.log(10) * np.sqrt(2))


# ---- WER -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, hypothesis, errors", [
    ("the cat sat", "the cat sat", 0),
    ("the cat sat", "the dog sat", 1),            # substitution
    ("the cat sat", "the sat", 1),                # deletion
    ("the cat sat", "the big cat sat down", 2),   # two insertions
    ("the cat sat", "", 3),                       # all deleted
    ("a b c d", "b c d e", 2),                    # deletion at the start, insertion at the end
])
def test_edit_distance_counts_substitutions_deletions_insertions(reference, hypothesis, errors):
    assert wer.edit_distance(reference.split(), hypothesis.split()) == errors


def test_wer_normalises_case_numbers_hyphens_and_punctuation():
    assert wer.normalize_words("In 1813, the Well-Known man's") == ["in", "eighteen", "thirteen", "the", "well",
                                                                       "known", "man's"]
    assert wer.word_error_rate("The office of marshal had been hereditary,", "the office of martial can be "
                               "hereditary") == pytest.approx(3 / 7)
    assert wer.word_error_rate("one two", "one two three four") == pytest.approx(1.0)  # insertions count


# ---- PESQ / STOI ---------------------------------------------------------------------------------------------------

def test_pesq_and_stoi_are_at_their_maxima_for_the_recording_itself(recording):
    audio, rate = recording
    assert quality.pesq_wideband(audio, audio, rate) == pytest.approx(4.64, abs=0.01)
    assert quality.stoi_score(audio, audio, rate) == pytest.approx(1.0, abs=1e-6)
    noisy = with_noise(audio, 5.0)
    assert quality.pesq_wideband(audio, noisy, rate) < 3.0
    assert quality.stoi_score(audio, noisy, rate) < 0.95


def test_silent_input_is_a_note_not_a_crash():
    silence = np.zeros(22050, dtype=np.float32)
    scores = row_metrics(silence, silence, 22050, transcript=None, recognizer=None)
    assert scores["pesq"] is None and scores["stoi"] is None
    assert any(note.startswith("pesq:") for note in scores["notes"])
    assert any(note.startswith("stoi:") for note in scores["notes"])
    assert scores["mcd_db"] == 0.0


# ---- DNSMOS --------------------------------------------------------------------------------------------------------

def test_dnsmos_rates_the_recording_above_white_noise(recording):
    pytest.importorskip("speechmos")
    audio, rate = recording
    noise = (0.1 * np.random.default_rng(0).standard_normal(audio.shape)).clip(-1, 1).astype(np.float32)
    speech, hiss = quality.dnsmos_scores(audio, rate), quality.dnsmos_scores(noise, rate)
    assert set(speech) == {"dnsmos_p808", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}
    assert all(1.0 <= v <= 5.0 for v in speech.values())
    assert speech["dnsmos_p808"] > hiss["dnsmos_p808"] + 0.5
    assert speech["dnsmos_ovrl"] > hiss["dnsmos_ovrl"] + 0.5


def test_missing_speechmos_is_a_note_not_a_crash(recording, monkeypatch):
    audio, rate = recording
    monkeypatch.setattr(quality, "_dnsmos_scorer", None)
    monkeypatch.setitem(__import__("sys").modules, "speechmos", None)  # import speechmos -> ImportError
    short = audio[:rate]
    scores = row_metrics(short, short, rate, transcript=None, recognizer=None, reference_f0=np.zeros(5))
    assert all(scores[k] is None for k in ("dnsmos_p808", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"))
    assert any(note.startswith("dnsmos:") and "speechmos" in note for note in scores["notes"])
    assert scores["pesq"] is not None and scores["mrstft"] == 0.0


# ---- pitch ---------------------------------------------------------------------------------------------------------

def harmonic_tone(f0_hz: np.ndarray, rate: int) -> np.ndarray:
    """A 10-harmonic tone following the per-sample F0 contour f0_hz [T] (0 = silence), peak about 0.5."""
    phase = 2 * np.pi * np.cumsum(f0_hz) / rate
    tone = sum(np.sin(k * phase) / k for k in range(1, 11)) * (f0_hz > 0)
    return (0.5 * tone / np.abs(tone).max()).astype(np.float32)


def test_pitch_errors_count_voicing_disagreements_and_cents():
    reference = np.array([0.0, 100.0, 200.0, 0.0, 110.0])
    track = np.array([0.0, 200.0, 0.0, 100.0, 110.0, 300.0])  # cut to the reference's 5 frames
    rmse, vuv = pitch.pitch_errors(reference, track)
    assert vuv == pytest.approx(2 / 5)
    assert rmse == pytest.approx(np.sqrt((1200.0 ** 2 + 0.0) / 2))
    assert pitch.pitch_errors(np.zeros(3), np.array([0.0, 120.0, 0.0])) == (None, pytest.approx(1 / 3))


def test_f0_of_a_clip_against_itself_is_exact_and_a_shift_is_measured_in_cents(recording):
    audio, rate = recording
    audio = audio[:2 * rate]  # pYIN costs about 1 s per second of audio on a loaded core
    track = pitch.f0_track(audio, rate)
    assert 0.3 < np.mean(track > 0) < 0.95 and 120 < np.median(track[track > 0]) < 320  # a female speaker
    assert pitch.pitch_errors(track, pitch.f0_track(audio.copy(), rate)) == (0.0, 0.0)

    t = np.arange(rate) / rate
    contour = 180.0 * 2 ** (np.sin(2 * np.pi * 3 * t) / 12) * ((t < 0.4) | (t > 0.6))  # vibrato, one pause
    shifted = pitch.f0_track(harmonic_tone(contour * 2 ** (200 / 1200), rate), rate)
    rmse, vuv = pitch.pitch_errors(pitch.f0_track(harmonic_tone(contour, rate), rate), shifted)
    assert rmse == pytest.approx(200.0, abs=20.0) and vuv < 0.05


def test_random_phase_floor_is_seeded_and_loses_voicing_that_griffin_lim_keeps(recording):
    import torch

    from waveglow.audio.griffin_lim import GriffinLimVocoder
    from waveglow.audio import MelSpectrogram

    audio, rate = recording
    audio = audio[:3 * rate]
    log_mel = MelSpectrogram()(torch.from_numpy(audio))
    vocoder = GriffinLimVocoder(n_iter=32, seed=0)
    floor = vocoder.random_phase_audio(log_mel)
    assert floor.dtype == np.float32 and floor.shape == (log_mel.shape[1] * 256,)
    np.testing.assert_array_equal(floor, vocoder.random_phase_audio(log_mel))  # seeded
    floor, griffin_lim = floor[:len(audio)].clip(-1, 1), vocoder.mel_to_audio(log_mel)[:len(audio)].clip(-1, 1)
    reference = pitch.f0_track(audio, rate)
    floor_vuv = pitch.pitch_errors(reference, pitch.f0_track(floor, rate))[1]
    griffin_lim_vuv = pitch.pitch_errors(reference, pitch.f0_track(griffin_lim, rate))[1]
    assert floor_vuv > griffin_lim_vuv + 0.05


def test_stft_distance_is_zero_for_identical_signals_and_band_limited_on_request(recording):
    audio, rate = recording
    assert stft_distance(audio, audio.copy(), rate, None) == 0.0
    rng = np.random.default_rng(0)
    hiss = np.fft.irfft(np.fft.rfft(rng.standard_normal(len(audio))) * (np.fft.rfftfreq(len(audio), 1 / rate) > 9000),
                        len(audio))
    noisy = (audio + 0.05 * hiss / np.abs(hiss).max()).astype(np.float32)  # noise above 9 kHz only
    assert stft_distance(audio, noisy, rate, None) > 5 * stft_distance(audio, noisy, rate, 8000.0)


# ---- the command ---------------------------------------------------------------------------------------------------

def test_evaluate_command_scores_held_out_clips_only(tmp_path, monkeypatch, capsys):
    from waveglow.training.nll import HeldOutSet

    loaded_ids = []
    original_load = HeldOutSet.load.__func__

    def spying_load(cls, utterances, *args, **kwargs):
        loaded_ids.extend(u.utt_id for u in utterances)
        return original_load(cls, utterances, *args, **kwargs)

    monkeypatch.setattr(HeldOutSet, "load", classmethod(spying_load))
    out = tmp_path / "results.json"
    assert main(["evaluate", "--checkpoint", str(GOLDEN_16_MEL), "--data", str(LJ), "--out", str(out),
                 "--max-utterances", "2", "--griffin-lim-iters", "8"]) == 0
    results = json.loads(out.read_text())

    ids = [u["utt_id"] for u in results["utterances"]]
    assert sorted(ids) == ["LJ002-0198", "LJ050-0030"] and sorted(loaded_ids) == sorted(ids)
    assert all(is_held_out(i) for i in loaded_ids)  # LJ001-0002 and LJ002-0020 are never evaluated
    assert results["settings"]["mel"]["n_mels"] == 16  # the model's mel, not the 80-band default
    assert ROWS == ("waveglow", "griffin_lim", "real", "floor")
    no_common_voicing = "f0_rmse_cents: no frame voiced in both the recording and this row"
    for row in ROWS:
        summary = results["summary"][row]
        for metric in AVERAGED_METRICS + ("wer",):
            # a 16-band mel leaves the vocoded rows unvoiced to pYIN: F0 RMSE has no frames and says so
            if metric != "f0_rmse_cents" or summary[metric] is not None:
                assert np.isfinite(summary[metric]), (row, metric)
        for utterance in results["utterances"]:
            notes = utterance["rows"][row]["notes"]
            assert all(note == no_common_voicing for note in notes), notes
            assert (utterance["rows"][row]["f0_rmse_cents"] is None) == bool(notes)
    real = results["summary"]["real"]
    assert real["f0_rmse_cents"] == real["vuv_error"] == real["mrstft"] == real["mrstft_0_8k"] == 0.0
    assert real["dnsmos_p808"] > results["summary"]["floor"]["dnsmos_p808"]
    assert results["summary"]["floor"]["bits_per_sample"] is None
    assert {"dnsmos", "pitch", "mrstft", "floor"} <= set(results["settings"])
    assert np.isfinite(results["summary"]["waveglow"]["bits_per_sample"])
    assert results["summary"]["real"]["mcd_db"] == 0.0
    assert results["summary"]["griffin_lim"]["mcd_db"] > 0.0
    audio_seconds = sum(u["seconds"] for u in results["utterances"])
    for row in ("waveglow", "griffin_lim", "floor"):  # real-time factor: synthesis time over audio time, summed over clips
        times = [u["synthesis_seconds"][row] for u in results["utterances"]]
        assert all(t > 0 for t in times)
        assert results["summary"][row]["rtf"] == pytest.approx(sum(times) / audio_seconds)
    assert results["summary"]["real"]["rtf"] is None
    assert results["settings"]["torch_threads"] >= 1
    table = capsys.readouterr().out
    assert "| WaveGlow |" in table and "| Griffin-Lim |" in table and "| real recordings |" in table
    assert "| random-phase floor |" in table
    header = next(line for line in table.splitlines() if line.startswith("| system |"))
    for column in ("P.808", "SIG", "BAK", "OVRL", "F0 RMSE c", "V/UV err", "MR-STFT", "MR-STFT 0-8k", "PESQ (WB)",
                   "WER %", "bits/sample", "RTF"):
        assert f"| {column} |" in header, column
    assert "threads" in table


def test_evaluate_command_without_held_out_clips_exits_2(tmp_path, capsys):
    (tmp_path / "wavs").mkdir()
    shutil.copy(LJ / "wavs" / "LJ001-0002.flac", tmp_path / "wavs")
    (tmp_path / "metadata.csv").write_text("LJ001-0002|in being comparatively modern.|in being comparatively "
                                           "modern.\n")
    code = main(["evaluate", "--checkpoint", str(GOLDEN_16_MEL), "--data", str(tmp_path), "--out",
                 str(tmp_path / "r.json"), "--no-wer"])
    assert code == 2 and "no held-out clips" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_evaluate_without_references_scores_the_model_row_alone_and_identically():
    from waveglow.commands.evaluate import held_out_utterances
    from waveglow.evaluation.runner import EvaluationSettings, evaluate, markdown_table
    from waveglow.vocoder.loading import load_for_scoring

    loaded = load_for_scoring(GOLDEN_16_MEL)
    clips = held_out_utterances(str(LJ), 1)
    full = evaluate(loaded, clips, EvaluationSettings(wer=False, griffin_lim_iters=4), log=lambda line: None)
    alone = evaluate(loaded, clips, EvaluationSettings(wer=False, references=False), log=lambda line: None)
    assert set(alone["summary"]) == {"waveglow"} and set(alone["utterances"][0]["rows"]) == {"waveglow"}
    drop_rtf = lambda scores: {k: v for k, v in scores.items() if k != "rtf"}  # noqa: E731 (timing varies)
    assert drop_rtf(alone["summary"]["waveglow"]) == drop_rtf(full["summary"]["waveglow"])  # seeded: same audio
    assert "griffin_lim" not in alone["utterances"][0]["synthesis_seconds"]
    assert alone["settings"]["wer_method"] is None and not alone["settings"]["references"]
    table = markdown_table(alone)
    assert "| WaveGlow |" in table and "Griffin-Lim" not in table

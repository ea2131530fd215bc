"""`waveglow evaluate` and its metrics (waveglow.evaluation)."""
import json
import shutil

import numpy as np
import pytest

from conftest import FIXTURES, GOLDEN
from data.splits import is_held_out
from waveglow.audio import load_wav
from waveglow.cli import main
from waveglow.evaluation import mcd, quality, wer
from waveglow.evaluation.runner import ROWS, row_metrics

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
    for row in ROWS:
        summary = results["summary"][row]
        for metric in ("pesq", "stoi", "mcd_db", "wer"):
            assert np.isfinite(summary[metric]), (row, metric)
        for utterance in results["utterances"]:
            assert utterance["rows"][row]["notes"] == []
    assert np.isfinite(results["summary"]["waveglow"]["bits_per_sample"])
    assert results["summary"]["real"]["mcd_db"] == 0.0
    assert results["summary"]["griffin_lim"]["mcd_db"] > 0.0
    audio_seconds = sum(u["seconds"] for u in results["utterances"])
    for row in ("waveglow", "griffin_lim"):  # real-time factor: synthesis time over audio time, summed over clips
        times = [u["synthesis_seconds"][row] for u in results["utterances"]]
        assert all(t > 0 for t in times)
        assert results["summary"][row]["rtf"] == pytest.approx(sum(times) / audio_seconds)
    assert results["summary"]["real"]["rtf"] is None
    assert results["settings"]["torch_threads"] >= 1
    table = capsys.readouterr().out
    assert "| WaveGlow |" in table and "| Griffin-Lim |" in table and "| real recordings |" in table
    assert "| RTF |" in table and "threads" in table


def test_evaluate_command_without_held_out_clips_exits_2(tmp_path, capsys):
    (tmp_path / "wavs").mkdir()
    shutil.copy(LJ / "wavs" / "LJ001-0002.flac", tmp_path / "wavs")
    (tmp_path / "metadata.csv").write_text("LJ001-0002|in being comparatively modern.|in being comparatively "
                                           "modern.\n")
    code = main(["evaluate", "--checkpoint", str(GOLDEN_16_MEL), "--data", str(tmp_path), "--out",
                 str(tmp_path / "r.json"), "--no-wer"])
    assert code == 2 and "no held-out clips" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()

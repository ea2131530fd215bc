"""tts.festival_corpus: LJSpeech transcripts spoken by Festival, in the LJSpeech layout, never a held-out sentence."""
from __future__ import annotations

import shutil

import pytest
import soundfile as sf

from waveglow_data.ljspeech import read_ljspeech
from waveglow_data.splits import is_held_out
from tts.festival_corpus import PREFIX, choose, main, read_transcripts

TRANSCRIPTS = [
    ("LJ001-0001", "first recorded one."),
    ("LJ002-0185", "held out, never spoken."),
    ("LJ003-0001", "The jail was full."),
    ("LJ003-0002", "It had four wards."),
    ("LJ004-0007", "Reform came slowly."),
    ("LJ050-0001", "held out chapter."),
]


def test_choose_spreads_over_eligible_sentences_only():
    chosen = choose(TRANSCRIPTS, 2, "LJ001", skip={"LJ001-0001"})
    assert [i for i, _ in chosen] == ["LJ003-0001", "LJ004-0007"]
    everything = choose(TRANSCRIPTS, 10, "LJ001", skip=set())
    assert [i for i, _ in everything] == ["LJ001-0001", "LJ003-0001", "LJ003-0002", "LJ004-0007"]
    assert not any(is_held_out(i) for i, _ in everything)
    assert [i for i, _ in choose(TRANSCRIPTS, 2, "LJ003", skip=set())] == ["LJ003-0001", "LJ004-0007"]


def test_malformed_transcripts_name_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("LJ001-0001|ok|ok\nno separator here\n")
    with pytest.raises(Exception, match=r"t.csv:2: expected 'id\|raw text\|normalized text'"):
        read_transcripts(path)


@pytest.mark.skipif(shutil.which("text2wave") is None, reason="festival is not installed")
def test_corpus_is_an_ljspeech_folder_of_festival_speech(tmp_path):
    transcripts = tmp_path / "all.csv"
    transcripts.write_text("".join(f"{i}|{t}|{t}\n" for i, t in TRANSCRIPTS))
    out = tmp_path / "festival"
    assert main(["--transcripts", str(transcripts), "--out", str(out), "--count", "2", "--first-id", "LJ003"]) == 0
    utterances = read_ljspeech(out)
    assert [u.utt_id for u in utterances] == [PREFIX + "LJ003-0001", PREFIX + "LJ004-0007"]
    for utterance in utterances:
        audio, rate = sf.read(utterance.audio_path)
        assert rate == 22050 and 0.5 < len(audio) / rate < 5 and abs(audio).max() > 0.05
    before = {p.name: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()}
    assert main(["--transcripts", str(transcripts), "--out", str(out), "--count", "2", "--first-id", "LJ003"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "wavs").iterdir()} == before  # kept, not redone
    assert not any(p.name.startswith(".") for p in (out / "wavs").iterdir())

"""data/: LJSpeech and filelist parsing, the held-out split, training segments, the mel cache, errors."""
from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from waveglow_data import (AudioMelDataset, DataError, Utterance, build_mel_cache, is_held_out, read_filelist,
                  read_ljspeech, read_utterances, split, write_filelist)
from waveglow_data.mel_cache import MelCache
from waveglow.audio import MelSpectrogram, load_wav

LJSPEECH = Path(__file__).parent / "fixtures" / "ljspeech"
IDS = ["LJ001-0002", "LJ002-0020", "LJ002-0198", "LJ050-0030"]


@pytest.fixture(scope="module")
def utterances():
    return read_ljspeech(LJSPEECH)


@pytest.fixture
def dataset_copy(tmp_path):
    """A writable copy of the fixture dataset."""
    root = tmp_path / "LJSpeech"
    shutil.copytree(LJSPEECH, root)
    return root


def _int16_clip(utt_id: str) -> np.ndarray:
    return sf.read(LJSPEECH / "wavs" / f"{utt_id}.flac", dtype="int16")[0]


# ---------------------------------------------------------------------------------------------------- parsing


def test_read_ljspeech(utterances):
    assert [u.utt_id for u in utterances] == IDS
    by_id = {u.utt_id: u for u in utterances}
    assert by_id["LJ002-0020"].raw_text == "In 1813"
    assert by_id["LJ002-0020"].text == "In eighteen thirteen"
    assert by_id["LJ001-0002"].text == "in being comparatively modern."
    assert all(u.audio_path == LJSPEECH / "wavs" / f"{u.utt_id}.flac" for u in utterances)


def test_ljspeech_prefers_wav_and_accepts_crlf_and_two_fields(tmp_path):
    root = tmp_path / "ds"
    (root / "wavs").mkdir(parents=True)
    sf.write(root / "wavs" / "A-1.wav", np.zeros(1000, np.int16), 22050)
    sf.write(root / "wavs" / "A-1.flac", np.zeros(1000, np.int16), 22050)
    sf.write(root / "wavs" / "B-2.flac", np.zeros(1000, np.int16), 22050)
    (root / "metadata.csv").write_bytes(b"A-1|Raw one|normalized one\r\n\r\nB-2|only text\r\n")
    utts = read_ljspeech(root)
    assert [(u.utt_id, u.audio_path.name, u.raw_text, u.text) for u in utts] == [
        ("A-1", "A-1.wav", "Raw one", "normalized one"), ("B-2", "B-2.flac", "only text", "only text")]


def test_filelist_formats_and_round_trip(tmp_path, utterances):
    listed = tmp_path / "lists" / "train.txt"
    listed.parent.mkdir()
    absolute = (LJSPEECH / "wavs" / "LJ050-0030.flac").resolve()
    listed.write_text("wavs/LJ001-0002.flac|in being comparatively modern.\n"
                      "wavs/LJ002-0020.flac\n"
                      f"{absolute}|The Commission also recommends\n", encoding="utf-8")
    utts = read_filelist(listed, audio_root=LJSPEECH)
    assert [u.utt_id for u in utts] == ["LJ001-0002", "LJ002-0020", "LJ050-0030"]
    assert [u.text for u in utts] == ["in being comparatively modern.", None, "The Commission also recommends"]
    assert utts[0].audio_path == LJSPEECH / "wavs" / "LJ001-0002.flac"
    assert utts[2].audio_path == absolute
    # without audio_root, relative paths are relative to the filelist: here they do not exist
    with pytest.raises(DataError, match="LJ001-0002.flac"):
        read_filelist(listed)

    out = write_filelist(utterances, tmp_path / "out" / "all.txt", relative_to=LJSPEECH)
    assert out.read_text(encoding="utf-8").splitlines()[1] == "wavs/LJ002-0020.flac|In eighteen thirteen"
    again = read_utterances(out, audio_root=LJSPEECH)
    assert [(u.utt_id, u.audio_path, u.text) for u in again] == [(u.utt_id, u.audio_path, u.text)
                                                                 for u in utterances]
    assert [u.utt_id for u in read_utterances(LJSPEECH)] == IDS
    assert not list(out.parent.glob("*.tmp"))


# ---------------------------------------------------------------------------------------------------- split


@pytest.mark.parametrize("utt_id, held", [
    ("LJ050-0001", True), ("LJ050-0278", True), ("LJ002-0181", True), ("LJ002-0190", True), ("LJ002-0200", True),
    ("LJ002-0180", False), ("LJ002-0201", False), ("LJ001-0181", False), ("LJ049-0001", False),
    ("LJ005-0050", False), ("my_clip_050", False), ("LJ050", False),
])
def test_is_held_out(utt_id, held):
    assert is_held_out(utt_id) is held


def _all_ids() -> list[Utterance]:
    return [Utterance(f"LJ{chapter:03d}-{number:04d}", Path("x.wav"))
            for chapter in range(1, 51) for number in range(1, 301)]


def test_split_never_trains_on_held_out_and_is_deterministic():
    utts = _all_ids()
    held = {u.utt_id for u in utts if is_held_out(u.utt_id)}
    assert len(held) == 300 + 20
    for fraction in (0.0, 0.05, 0.5):
        result = split(utts, val_fraction=fraction, seed=3)
        train_ids, val_ids = [u.utt_id for u in result.train], [u.utt_id for u in result.val]
        assert not held & set(train_ids)
        assert held <= set(val_ids)
        assert sorted(train_ids + val_ids) == sorted(u.utt_id for u in utts)
        # same membership on a second call and for a shuffled, partial input (hash of the id only)
        again = split(utts, val_fraction=fraction, seed=3)
        assert [u.utt_id for u in again.train] == train_ids
        shuffled = random.Random(0).sample(utts, 7000)
        subset = split(shuffled, val_fraction=fraction, seed=3)
        assert {u.utt_id for u in subset.train} == set(train_ids) & {u.utt_id for u in shuffled}
    extra = len(split(utts, val_fraction=0.05, seed=3).val) - len(held)
    assert 0.03 * 14680 < extra < 0.07 * 14680
    other_seed = split(utts, val_fraction=0.05, seed=4)
    assert {u.utt_id for u in other_seed.val} != {u.utt_id for u in split(utts, val_fraction=0.05, seed=3).val}
    with pytest.raises(ValueError):
        split(utts, val_fraction=1.0)


def test_split_of_fixture(utterances):
    result = split(utterances)
    assert [u.utt_id for u in result.train] == ["LJ001-0002", "LJ002-0020"]
    assert [u.utt_id for u in result.val] == ["LJ002-0198", "LJ050-0030"]


# ---------------------------------------------------------------------------------------------------- segments


@pytest.fixture(scope="module")
def mel80():
    return MelSpectrogram()


def test_segments_have_exact_shapes_and_come_from_the_clip(utterances, mel80):
    dataset = AudioMelDataset(utterances, segment_length=16000, mel=mel80, seed=7)
    assert len(dataset) == 4 and dataset.mel_frames == 16000 // 256 + 1
    for index, utt in enumerate(utterances):
        mel, audio = dataset[index]
        assert audio.shape == (16000,) and audio.dtype == torch.float32
        assert mel.shape == (80, 63) and mel.dtype == torch.float32
        clip = _int16_clip(utt.utt_id).astype(np.float32) / 32768.0
        start = dataset.segment_start(index, clip.shape[0])
        assert 0 <= start <= clip.shape[0] - 16000
        np.testing.assert_array_equal(audio.numpy(), clip[start:start + 16000])
        # no cache: the mel of the segment itself (NVIDIA Mel2Samp)
        torch.testing.assert_close(mel, mel80(audio), rtol=0, atol=0)


def test_same_seed_same_segments_and_epochs_differ(utterances, mel80):
    def starts(seed, epoch, order):
        dataset = AudioMelDataset(utterances, mel=mel80, seed=seed)
        dataset.set_epoch(epoch)
        out = {}
        for index in order:  # the order of access must not matter (workers, samplers)
            out[index] = dataset[index][1]
        return out

    first = starts(1, 0, [0, 1, 2, 3])
    resumed = starts(1, 0, [3, 1, 0, 2])
    for index in first:
        torch.testing.assert_close(first[index], resumed[index], rtol=0, atol=0)
    epoch1 = starts(1, 1, [0, 1, 2, 3])
    seed2 = starts(2, 0, [0, 1, 2, 3])
    assert any(not torch.equal(first[i], epoch1[i]) for i in first)
    assert any(not torch.equal(first[i], seed2[i]) for i in first)


def test_short_clip_is_zero_padded(utterances, mel80):
    utt = utterances[1]  # LJ002-0020, 33949 samples
    dataset = AudioMelDataset([utt], segment_length=40000, mel=mel80)
    mel, audio = dataset[0]
    clip = _int16_clip(utt.utt_id).astype(np.float32) / 32768.0
    assert audio.shape == (40000,) and mel.shape == (80, 40000 // 256 + 1)
    np.testing.assert_array_equal(audio[:clip.shape[0]].numpy(), clip)
    assert not audio[clip.shape[0]:].any()
    torch.testing.assert_close(mel, mel80(audio), rtol=0, atol=0)


def test_dataloader_batches(utterances, mel80):
    loader = torch.utils.data.DataLoader(AudioMelDataset(utterances, segment_length=8192, mel=mel80), batch_size=2)
    mels, audios = next(iter(loader))
    assert mels.shape == (2, 80, 33) and audios.shape == (2, 8192)


# ---------------------------------------------------------------------------------------------------- cache


def test_cache_is_written_once_and_used(utterances, mel80, tmp_path):
    cache_dir = tmp_path / "mels"
    dataset = AudioMelDataset(utterances, mel=mel80, seed=5, cache_dir=cache_dir)
    mel, audio = dataset[0]
    utt = utterances[0]
    cached_file = cache_dir / f"{utt.utt_id}.npy"
    assert cached_file.exists() and (cache_dir / "mel_config.json").exists()
    assert not list(cache_dir.glob("*.tmp")) and not list(cache_dir.glob(".*"))

    clip = _int16_clip(utt.utt_id).astype(np.float32) / 32768.0
    clip_mel = np.load(cached_file)
    np.testing.assert_array_equal(clip_mel, mel80(torch.from_numpy(clip)).numpy())
    start = dataset.segment_start(0, clip.shape[0])
    assert start % 256 == 0
    np.testing.assert_array_equal(audio.numpy(), clip[start:start + 16000])
    np.testing.assert_array_equal(mel.numpy(), clip_mel[:, start // 256:start // 256 + 63])
    # interior frames (windows not reaching the segment edges) agree with the segment's own mel
    torch.testing.assert_close(mel[:, 2:-2], mel80(audio)[:, 2:-2], rtol=0, atol=1e-4)

    # a second dataset reads the file instead of recomputing: plant recognisable values of the right shape
    np.save(cached_file, np.full_like(clip_mel, -3.0))
    reread, _ = AudioMelDataset(utterances, mel=mel80, seed=5, cache_dir=cache_dir)[0]
    assert torch.all(reread == -3.0)
    # a stale entry (wrong frame count, e.g. the clip was replaced) is recomputed
    np.save(cached_file, np.zeros((80, 3), np.float32))
    recomputed, _ = AudioMelDataset(utterances, mel=mel80, seed=5, cache_dir=cache_dir)[0]
    torch.testing.assert_close(recomputed, mel, rtol=0, atol=0)
    assert np.load(cached_file).shape == clip_mel.shape


def test_cache_rejects_other_mel_settings(tmp_path, mel80):
    MelCache(tmp_path / "mels", mel80)
    with pytest.raises(DataError, match="n_mels"):
        MelCache(tmp_path / "mels", MelSpectrogram(n_mels=16))


def test_build_mel_cache(tmp_path, mel80):
    report = build_mel_cache(LJSPEECH, tmp_path / "mels", mel=mel80)
    assert sorted(report.computed) == IDS and report.reused == []
    for utt_id in IDS:
        clip = torch.from_numpy(_int16_clip(utt_id).astype(np.float32) / 32768.0)
        np.testing.assert_array_equal(np.load(tmp_path / "mels" / f"{utt_id}.npy"), mel80(clip).numpy())
    again = build_mel_cache(LJSPEECH, tmp_path / "mels", mel=mel80)
    assert again.computed == [] and sorted(again.reused) == IDS
    assert sorted(build_mel_cache(LJSPEECH, tmp_path / "mels", mel=mel80, overwrite=True).computed) == IDS


# ---------------------------------------------------------------------------------------------------- errors


def _assert_data_error(call, *fragments):
    with pytest.raises(DataError) as info:
        call()
    for fragment in fragments:
        assert str(fragment) in str(info.value), (fragment, str(info.value))
    assert isinstance(info.value, ValueError)
    return info.value


def test_missing_audio_file(dataset_copy):
    missing = dataset_copy / "wavs" / "LJ002-0020.flac"
    missing.unlink()
    _assert_data_error(lambda: read_ljspeech(dataset_copy), "wavs/LJ002-0020.wav", "1 audio file")
    utts = read_ljspeech(dataset_copy, check_audio=False)
    _assert_data_error(lambda: AudioMelDataset(utts)[1], "LJ002-0020", "not found")
    _assert_data_error(lambda: load_wav(missing), str(missing), "not found")


def test_wrong_sample_rate_suggests_resample(dataset_copy):
    clip = _int16_clip("LJ002-0020").astype(np.float32) / 32768.0
    (dataset_copy / "wavs" / "LJ002-0020.flac").unlink()
    from waveglow.audio import resample_audio

    wav = dataset_copy / "wavs" / "LJ002-0020.wav"
    sf.write(wav, resample_audio(clip, 22050, 16000), 16000, subtype="PCM_16")
    utts = read_ljspeech(dataset_copy)
    _assert_data_error(lambda: AudioMelDataset(utts)[1], str(wav), "16000 Hz", "22050", "--resample")
    mel, audio = AudioMelDataset(utts, resample=True)[1]
    assert mel.shape == (80, 63) and audio.shape == (16000,)
    assert float(audio.abs().max()) <= 1.0


def test_corrupt_and_truncated_audio(tmp_path):
    clip = _int16_clip("LJ002-0020")
    wav, flac = tmp_path / "cut.wav", tmp_path / "cut.flac"
    sf.write(wav, clip, 22050, subtype="PCM_16")
    wav.write_bytes(wav.read_bytes()[:30000])  # header intact, data chunk cut short
    _assert_data_error(lambda: load_wav(wav), str(wav), "truncated")
    flac.write_bytes((LJSPEECH / "wavs" / "LJ002-0020.flac").read_bytes()[:20000])
    _assert_data_error(lambda: load_wav(flac), str(flac), "corrupt")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all " * 100)
    _assert_data_error(lambda: load_wav(garbage), str(garbage), "corrupt")


def test_empty_audio(tmp_path):
    zero_bytes = tmp_path / "zero.wav"
    zero_bytes.write_bytes(b"")
    _assert_data_error(lambda: load_wav(zero_bytes), str(zero_bytes), "empty")
    no_samples = tmp_path / "nosamples.wav"
    sf.write(no_samples, np.zeros(0, np.int16), 22050, subtype="PCM_16")
    _assert_data_error(lambda: load_wav(no_samples), str(no_samples), "empty")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((1000, 2), np.int16), 22050, subtype="PCM_16")
    _assert_data_error(lambda: load_wav(stereo), str(stereo), "2 channels")


def test_empty_clip_in_dataset_names_the_file(dataset_copy):
    target = dataset_copy / "wavs" / "LJ050-0030.flac"
    target.write_bytes(b"")
    _assert_data_error(lambda: AudioMelDataset(read_ljspeech(dataset_copy))[3], str(target), "empty")


@pytest.mark.parametrize("bad_line, reason", [
    ("LJ009-0001 no separators at all", "1 field"),
    ("LJ009-0001|a|b|c", "4 field"),
    ("|raw|normalized", "bad clip id"),
    ("LJ009-0001|raw|   ", "empty text"),
])
def test_malformed_metadata_line(dataset_copy, bad_line, reason):
    metadata = dataset_copy / "metadata.csv"
    lines = metadata.read_text(encoding="utf-8").splitlines()
    lines.insert(2, bad_line)
    metadata.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _assert_data_error(lambda: read_ljspeech(dataset_copy), f"{metadata}:3", reason)


def test_metadata_other_errors(dataset_copy, tmp_path):
    metadata = dataset_copy / "metadata.csv"
    metadata.write_text(metadata.read_text(encoding="utf-8") + "LJ001-0002|dup|dup\n", encoding="utf-8")
    _assert_data_error(lambda: read_ljspeech(dataset_copy), f"{metadata}:5", "duplicate", "line 1")
    metadata.write_bytes(b"LJ001-0002|ok|ok\nLJ002-0020|\xff\xfe|x\n")
    _assert_data_error(lambda: read_ljspeech(dataset_copy), f"{metadata}:2", "UTF-8")
    _assert_data_error(lambda: read_ljspeech(tmp_path), str(tmp_path / "metadata.csv"))
    filelist = tmp_path / "list.txt"
    filelist.write_text("a.wav|text\nb.wav|text|speaker\n", encoding="utf-8")
    _assert_data_error(lambda: read_filelist(filelist, check_audio=False), f"{filelist}:2", "malformed")

"""Reading utterance lists: the LJSpeech layout and NVIDIA-style filelists.

LJSpeech layout (https://keithito.com/LJ-Speech-Dataset):
    <root>/metadata.csv     one clip per line: `id|raw text|normalized text` (UTF-8, no header, no quoting)
    <root>/wavs/<id>.wav    (or <id>.flac)

NVIDIA filelists (tacotron2 `filelists/*.txt`, waveglow `train_files.txt`), one clip per line:
    `path/to/clip.wav|text`  or just  `path/to/clip.wav`
Relative paths are resolved against `audio_root` (NVIDIA's lists use a `DUMMY/` prefix meant to be a symlink).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from waveglow.common.atomic import atomic_write_text
from waveglow.common.errors import DataError

AUDIO_EXTENSIONS = (".wav", ".flac")  # looked up in this order in <root>/wavs/
_MAX_LISTED = 5  # how many missing files an error message names before summarising


@dataclass(frozen=True)
class Utterance:
    """One clip: `utt_id` (e.g. 'LJ001-0001'), its audio file, normalized `text` and `raw_text` (None if unknown)."""

    utt_id: str
    audio_path: Path
    text: str | None = None
    raw_text: str | None = None


def _read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its line ending) for every non-blank line of a UTF-8 text file."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({exc.reason})") from exc
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")  # tolerate CRLF files
        if line.strip():
            yield number, line


def _check_unique(utterances: list[Utterance], lines: list[int], path: Path) -> None:
    first_line: dict[str, int] = {}
    for utt, line in zip(utterances, lines):
        if utt.utt_id in first_line:
            raise DataError(f"{path}:{line}: duplicate id {utt.utt_id!r} (first on line {first_line[utt.utt_id]})")
        first_line[utt.utt_id] = line


def _check_audio_exists(utterances: Iterable[Utterance], listed_in: Path) -> None:
    missing = [u.audio_path for u in utterances if not u.audio_path.is_file()]
    if missing:
        names = ", ".join(str(p) for p in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise DataError(f"{len(missing)} audio file(s) listed in {listed_in} not found: {names}{more}")


def _checked(utterances: list[Utterance], lines: list[int], listed_in: Path, check_audio: bool) -> list[Utterance]:
    """`utterances` (read from lines `lines` of `listed_in`) once their ids are unique and, with `check_audio`,
    their audio files exist; DataError naming the line or the files otherwise."""
    _check_unique(utterances, lines, listed_in)
    if check_audio:
        _check_audio_exists(utterances, listed_in)
    return utterances


def read_transcripts(path: str | os.PathLike) -> list[tuple[str, str]]:
    """(id, normalised text) for every line of an LJSpeech metadata / all_transcripts file (`id|raw|normalised`,
    or `id|text`), whether or not its audio exists. Raises DataError naming a malformed line."""
    path = Path(path)
    pairs = []
    for number, line in _read_lines(path):
        fields = line.split("|")
        if len(fields) not in (2, 3) or not fields[0].strip():
            raise DataError(f"{path}:{number}: expected 'id|raw text|normalized text', got {line[:80]!r}")
        pairs.append((fields[0].strip(), fields[-1].strip()))
    return pairs


def read_ljspeech(root: str | os.PathLike, check_audio: bool = True) -> list[Utterance]:
    """Utterances of an LJSpeech-layout directory, in metadata.csv order.

    A line must have 3 fields (`id|raw|normalized`); 2 fields (`id|text`) are accepted as text used for both.
    Audio is `wavs/<id>.wav`, else `wavs/<id>.flac`. With `check_audio`, a missing file raises DataError.
    """
    root = Path(root)
    metadata = root / "metadata.csv"
    if not metadata.is_file():
        raise DataError(f"not an LJSpeech directory: {metadata} not found")
    wav_dir = root / "wavs"
    present = {entry.name for entry in os.scandir(wav_dir)} if wav_dir.is_dir() else set()

    utterances, lines = [], []
    for number, line in _read_lines(metadata):
        fields = line.split("|")
        if len(fields) not in (2, 3):
            raise DataError(f"{metadata}:{number}: malformed line, expected 'id|raw text|normalized text' "
                            f"(3 fields separated by '|'), got {len(fields)} field(s): {line[:80]!r}")
        utt_id, raw = fields[0].strip(), fields[1]
        text = fields[2] if len(fields) == 3 else raw
        if not utt_id or "/" in utt_id or "\\" in utt_id:
            raise DataError(f"{metadata}:{number}: malformed line, bad clip id {utt_id!r}")
        if not text.strip():
            raise DataError(f"{metadata}:{number}: malformed line, empty text for {utt_id}")
        audio = next((wav_dir / (utt_id + ext) for ext in AUDIO_EXTENSIONS if utt_id + ext in present),
                     wav_dir / (utt_id + AUDIO_EXTENSIONS[0]))
        utterances.append(Utterance(utt_id, audio, text=text, raw_text=raw))
        lines.append(number)
    return _checked(utterances, lines, metadata, check_audio)


def read_filelist(path: str | os.PathLike, audio_root: str | os.PathLike | None = None,
                  check_audio: bool = True) -> list[Utterance]:
    """Utterances of an NVIDIA-style filelist (`path|text` or `path` per line), in file order.

    Relative audio paths are resolved against `audio_root`, default the filelist's own directory.
    The utterance id is the audio file name without extension.
    """
    path = Path(path)
    base = Path(audio_root) if audio_root is not None else path.parent
    utterances, lines = [], []
    for number, line in _read_lines(path):
        fields = line.split("|")
        if len(fields) > 2 or not fields[0].strip():
            raise DataError(f"{path}:{number}: malformed line, expected 'audio_path|text' or 'audio_path', "
                            f"got {line[:80]!r}")
        audio = Path(fields[0].strip())
        text = fields[1] if len(fields) == 2 else None
        utterances.append(Utterance(audio.stem, audio if audio.is_absolute() else base / audio, text=text))
        lines.append(number)
    return _checked(utterances, lines, path, check_audio)


def read_utterances(source: str | os.PathLike, audio_root: str | os.PathLike | None = None,
                    check_audio: bool = True) -> list[Utterance]:
    """A directory is read as LJSpeech layout, a file as a filelist."""
    source = Path(source)
    if source.is_dir():
        return read_ljspeech(source, check_audio=check_audio)
    return read_filelist(source, audio_root=audio_root, check_audio=check_audio)


def write_filelist(utterances: Iterable[Utterance], path: str | os.PathLike,
                   relative_to: str | os.PathLike | None = None) -> Path:
    """Write `audio_path|text` lines (just `audio_path` where text is None), atomically. Returns the path.

    With `relative_to`, audio paths are written relative to that directory (pass it back as `audio_root`).
    """
    path = Path(path)
    rows = []
    for utt in utterances:
        audio = Path(os.path.relpath(utt.audio_path, relative_to)) if relative_to is not None else utt.audio_path
        if utt.text is not None and ("|" in utt.text or "\n" in utt.text):
            raise DataError(f"cannot write {utt.utt_id} to {path}: its text contains '|' or a newline")
        rows.append(f"{audio.as_posix()}|{utt.text}" if utt.text is not None else audio.as_posix())
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, "".join(row + "\n" for row in rows))

"""A Festival-spoken corpus in the LJSpeech layout: LJSpeech transcripts read by the built-in frontend's voice.

    python -m tts.festival_corpus --transcripts ljspeech-sample/all_transcripts.csv --out festival-lj --count 150

Writes <out>/wavs/festival-<id>.wav (16-bit PCM at --rate, 22050 Hz by default, Festival's edge silence trimmed as
the TTS frontend trims it) and <out>/metadata.csv (`id|text|text`), each file renamed into place when complete.
Clips already present are kept, so an interrupted run continues. Held-out ids (waveglow_data.splits) are never synthesised,
so a vocoder trained on LJSpeech plus this corpus still never sees held-out sentences. Sentences are spread evenly
over the transcripts from --first-id on, skipping ids that have a recording in --skip-recorded (those are in the
real training data already).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from waveglow.audio.features import resample_audio
from waveglow.audio.wav_writer import write_wav_atomic
from waveglow.common.atomic import atomic_write_text
from waveglow.common.errors import DataError
from waveglow_data.ljspeech import read_transcripts
from waveglow_data.splits import is_held_out
from tts.festival import FestivalFrontend

PREFIX = "festival-"


def choose(transcripts: list[tuple[str, str]], count: int, first_id: str, skip: set[str]) -> list[tuple[str, str]]:
    """`count` sentences spread evenly over the eligible ones (not held out, not in `skip`, id >= first_id)."""
    eligible = [(i, t) for i, t in transcripts if i >= first_id and i not in skip and not is_held_out(i) and t]
    if count >= len(eligible):
        return eligible
    step = len(eligible) / count
    return [eligible[int((k + 0.5) * step)] for k in range(count)]  # the middle of each of `count` equal spans


def build(transcripts: str, out: str, count: int, first_id: str = "LJ003", skip_recorded: str | None = None,
          rate: int = 22050, progress: bool = True) -> list[str]:
    """Synthesise the chosen sentences into `out`; returns the ids written now (kept ones excluded)."""
    import numpy as np

    skip = {p.stem for p in Path(skip_recorded).iterdir()} if skip_recorded else set()
    chosen = choose(read_transcripts(transcripts), count, first_id, skip)
    if not chosen:
        raise DataError(f"{transcripts}: no eligible sentence from id {first_id} on")
    frontend = FestivalFrontend()
    wavs = Path(out) / "wavs"
    written = []
    iterator = chosen
    if progress:
        from tqdm import tqdm

        iterator = tqdm(chosen, desc="festival", unit="sentence")
    for utt_id, text in iterator:
        target = wavs / f"{PREFIX}{utt_id}.wav"
        if target.is_file():
            continue
        audio, festival_rate = frontend.synthesize_audio(text)
        if festival_rate != rate:
            audio = resample_audio(audio, festival_rate, rate)
        write_wav_atomic(target, np.clip(audio, -1.0, 1.0), rate)
        written.append(utt_id)
    lines = [f"{PREFIX}{i}|{t}|{t}" for i, t in chosen if (wavs / f"{PREFIX}{i}.wav").is_file()]
    atomic_write_text(Path(out) / "metadata.csv", "\n".join(lines) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcripts", required=True, help="LJSpeech metadata.csv or all_transcripts.csv")
    parser.add_argument("--out", required=True, help="output folder (LJSpeech layout)")
    parser.add_argument("--count", type=int, default=150, help="sentences to synthesise (default 150)")
    parser.add_argument("--first-id", default="LJ003", help="only ids from this one on (default LJ003)")
    parser.add_argument("--skip-recorded", help="a wavs/ folder: ids with a recording there are skipped")
    parser.add_argument("--rate", type=int, default=22050, help="output sampling rate (default 22050)")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be >= 1")
    try:
        written = build(args.transcripts, args.out, args.count, args.first_id, args.skip_recorded, args.rate)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(written)} clips synthesised into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

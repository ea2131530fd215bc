"""Intelligibility of the weight-free TTS path: word error rate of an off-the-shelf recogniser (PocketSphinx,
its bundled US English model) on synthesised LJSpeech sentences.

Rows (each the WER over the sentences it covers, all words pooled):
  Festival audio             Festival's own speech resampled to 16 kHz: the upper bound for everything after it
  Festival -> Griffin-Lim    what `waveglow tts --checkpoint griffin-lim` produces (Synthesizer end to end)
  Festival -> WaveGlow       with --checkpoint: the same through a trained WaveGlow (its mel settings)
  LJSpeech recording [-> vocoder]   where the clip's audio is in --wavs-dir: the recogniser on real speech and on
                             copy-synthesis of it (recording -> mel -> vocoder), to calibrate the numbers above

Text is compared after lowercasing, spelling numbers as words, turning hyphens into spaces and dropping
punctuation other than in-word apostrophes. The reference is LJSpeech's normalised transcript.

    .venv/bin/python benchmarks/festival_wer.py                      # 10 held-out LJ050 sentences
    .venv/bin/python benchmarks/festival_wer.py --checkpoint runs/wg/ --save-dir /tmp/wer_wavs -v
    .venv/bin/python benchmarks/festival_wer.py --checkpoint runs/a runs/b --ids LJ050-{0029..0058}   # A/B
    .venv/bin/python benchmarks/festival_wer.py --quick              # smoke run: 1 sentence, 4 Griffin-Lim iterations

Needs: apt-get install festival festvox-us-slt-hts; pip install pocketsphinx.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from waveglow_data.ljspeech import read_transcripts  # noqa: E402
from tts.festival import FestivalFrontend  # noqa: E402
from waveglow.audio.griffin_lim import GriffinLimVocoder  # noqa: E402
from tts.pipeline import Synthesizer, WaveGlowVocoder  # noqa: E402
from waveglow.audio.features import load_wav  # noqa: E402
from waveglow.evaluation.wer import Recognizer, edit_distance, normalize_words  # noqa: E402

DATA = Path("/work/shared/data/ljspeech-sample")
DEFAULT_IDS = [f"LJ050-{n:04d}" for n in range(29, 39)]  # held-out chapter; 0029-0033 also have recordings


# --------------------------------------------------------------------------------------------------------------
# scoring


class Score:
    """Pooled word errors for one system."""

    def __init__(self, name: str):
        self.name, self.sentences, self.words, self.errors, self.seconds = name, 0, 0, 0, 0.0

    def add(self, reference: str, hypothesis: str, seconds: float) -> int:
        ref, hyp = normalize_words(reference), normalize_words(hypothesis)
        errors = edit_distance(ref, hyp)
        self.sentences += 1
        self.words += len(ref)
        self.errors += errors
        self.seconds += seconds
        return errors

    @property
    def wer(self) -> float:
        return self.errors / max(self.words, 1)


# --------------------------------------------------------------------------------------------------------------
# systems


def load_transcripts(path: Path, ids: list[str]) -> dict[str, str]:
    """id -> normalised transcript (LJSpeech metadata layout `id|raw|normalised`), in the order of `ids`."""
    rows = dict(read_transcripts(path))
    missing = [i for i in ids if i not in rows]
    if missing:
        sys.exit(f"{path}: no transcript for {', '.join(missing)}")
    return {i: rows[i] for i in ids}


def vocoder_mel(vocoder, audio: np.ndarray, rate: int) -> torch.Tensor:
    """Copy-synthesis input: the mel of recorded audio in the shape `vocoder` expects."""
    frontend = FestivalFrontend(mel=getattr(vocoder, "mel", None))  # only its audio -> mel half is used here
    return frontend.audio_to_mel(audio, rate)


def build_systems(args) -> list[tuple[str, object]]:
    """(row name, vocoder or None for the unvocoded audio) for the Festival rows."""
    griffin_lim = Synthesizer(frontend="festival", vocoder="griffin-lim", griffin_lim_iters=args.griffin_lim_iters)
    systems = [("Festival audio (upper bound)", None), ("Festival -> mel -> Griffin-Lim", griffin_lim)]
    for checkpoint in args.checkpoint or []:
        waveglow = Synthesizer(frontend="festival", vocoder=checkpoint, sigma=args.sigma,
                               denoise=args.denoise, seed=args.seed)
        systems.append((f"Festival -> mel -> WaveGlow ({label(checkpoint)})", waveglow))
    return systems


def label(checkpoint: str) -> str:
    """A row label for a checkpoint path: its name, or its run's name for a file inside checkpoints/."""
    path = Path(checkpoint)
    return f"{path.parent.parent.name}/{path.name}" if path.parent.name == "checkpoints" else path.name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ids", nargs="+", default=None,
                        help="LJSpeech ids (default LJ050-0029..0038; --quick: LJ050-0030)")
    parser.add_argument("--transcripts", type=Path, default=DATA / "all_transcripts.csv")
    parser.add_argument("--wavs-dir", type=Path, default=DATA / "wavs",
                        help="recordings <id>.flac / .wav for the LJSpeech rows (skipped where absent)")
    parser.add_argument("--checkpoint", nargs="+",
                        help="trained WaveGlows (any format load_waveglow reads, training runs included): each adds "
                             "Festival -> WaveGlow and recording -> WaveGlow rows")
    parser.add_argument("--sigma", type=float, default=0.666)
    parser.add_argument("--denoise", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--griffin-lim-iters", type=int, default=None, help="(default 60; --quick 4)")
    parser.add_argument("--save-dir", type=Path, help="also write every synthesised clip here")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each hypothesis")
    parser.add_argument("--quick", action="store_true", help="smoke run (seconds): one sentence, 4 Griffin-Lim "
                        "iterations")
    args = parser.parse_args(argv)
    if args.ids is None:
        args.ids = ["LJ050-0030"] if args.quick else DEFAULT_IDS
    if args.griffin_lim_iters is None:
        args.griffin_lim_iters = 4 if args.quick else 60
    torch.set_num_threads(1)

    transcripts = load_transcripts(args.transcripts, args.ids)
    try:
        recognizer = Recognizer()
    except ImportError as exc:
        sys.exit(str(exc))
    festival = FestivalFrontend()
    systems = build_systems(args)
    copy_vocoders = [("Griffin-Lim", GriffinLimVocoder(n_iter=args.griffin_lim_iters))]
    for checkpoint in args.checkpoint or []:
        copy_vocoders.append((f"WaveGlow ({label(checkpoint)})",
                              WaveGlowVocoder(checkpoint, sigma=args.sigma, denoise=args.denoise)))
    scores: dict[str, Score] = {}
    if args.save_dir:
        args.save_dir.mkdir(parents=True, exist_ok=True)

    def score(name: str, utt_id: str, audio: np.ndarray, rate: int, seconds: float) -> None:
        hypothesis = recognizer.transcribe(audio, rate)
        errors = scores.setdefault(name, Score(name)).add(transcripts[utt_id], hypothesis, seconds)
        if args.verbose:
            print(f"  {name:<40} {errors:>2} err | {hypothesis}")
        if args.save_dir:
            import soundfile as sf

            slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
            sf.write(args.save_dir / f"{utt_id}_{slug}.wav", np.clip(audio, -1, 1), rate, subtype="PCM_16")

    for utt_id, text in transcripts.items():
        if args.verbose:
            print(f"{utt_id}: {text}")
        start = time.perf_counter()
        audio, rate = festival.synthesize_audio(text)
        score("Festival audio (upper bound)", utt_id, audio, rate, time.perf_counter() - start)
        for name, synth in systems[1:]:
            start = time.perf_counter()
            audio, rate = synth.synthesize(text)
            score(name, utt_id, audio, rate, time.perf_counter() - start)
        recording = next((p for p in (args.wavs_dir / f"{utt_id}.flac", args.wavs_dir / f"{utt_id}.wav")
                          if p.is_file()), None)
        if recording is None:
            continue
        audio, rate = load_wav(recording)
        score("LJSpeech recording", utt_id, audio, rate, 0.0)
        for name, vocoder in copy_vocoders:
            if hasattr(vocoder, "reseed"):  # the same latent for every checkpoint: rows differ by the model alone
                vocoder.reseed(args.seed)
            start = time.perf_counter()
            vocoded = vocoder.mel_to_audio(vocoder_mel(vocoder, audio, rate))
            score(f"LJSpeech recording -> mel -> {name}", utt_id, vocoded, vocoder.sampling_rate,
                  time.perf_counter() - start)

    width = max(len(name) for name in scores)
    print(f"\nPocketSphinx WER, {len(args.ids)} LJSpeech sentences ({args.ids[0]} .. {args.ids[-1]}), "
          "reference: normalised transcript")
    print(f"{'system':<{width}} {'sents':>5} {'words':>5} {'errors':>6} {'WER':>7} {'s/sent':>7}")
    for s in scores.values():
        print(f"{s.name:<{width}} {s.sentences:>5} {s.words:>5} {s.errors:>6} {100 * s.wer:>6.1f}% "
              f"{s.seconds / s.sentences:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

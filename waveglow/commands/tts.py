"""`waveglow tts "text" -o out.wav`: text to speech (Festival or Tacotron2, then WaveGlow or Griffin-Lim).

`waveglow tts -i phrases.txt -o out/` speaks each non-empty line into out/0001.wav, out/0002.wav, ... (as
DeepLearningExamples' inference.py -i does); a line that fails is reported and the others go on.
"""
from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

from waveglow.common.errors import UserError
from waveglow.common.precision import CHOICES as PRECISION_CHOICES
from tts.festival import FrontendError
from tts.limits import MAX_TEXT_CHARS
from waveglow.vocoder.config import DEFAULT_SIGMA
from tts import pipeline
from tts.pipeline import SynthesisError, write_wav_atomic


def add_arguments(parser) -> None:
    parser.add_argument("text", nargs="?", help="text to speak (or use --text-file / -i)")
    parser.add_argument("-o", "--output", required=True,
                        help="WAV file to write (16-bit PCM, written atomically); with -i, a folder")
    parser.add_argument("--text-file", help="read the text from this UTF-8 file ('-' for standard input)")
    parser.add_argument("-i", "--phrases", metavar="FILE",
                        help="UTF-8 file with one utterance per line: one numbered wav per non-empty line in -o")
    parser.add_argument("--frontend", choices=("festival", "tacotron2"), default="festival",
                        help="text -> mel: Festival speech (no weights needed; default) or a Tacotron2 checkpoint")
    parser.add_argument("--tacotron2", metavar="CKPT", help="Tacotron2 checkpoint for --frontend tacotron2")
    parser.add_argument("--checkpoint", metavar="WAVEGLOW|griffin-lim",
                        help="WaveGlow checkpoint, or 'griffin-lim' (default: the shipped WaveGlow if this "
                             "installation has one, else the Griffin-Lim fallback)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA,
                        help="WaveGlow latent scale (default %(default)s)")
    parser.add_argument("--denoise", type=float, default=0.0,
                        help="WaveGlow denoiser strength, e.g. 0.01-0.1 (default 0: off)")
    parser.add_argument("--seed", type=int, help="seed for reproducible output (Tacotron2 dropout, WaveGlow noise)")
    parser.add_argument("--device", default="auto", help="torch device for the models: auto (CUDA when "
                        "available), cpu, cuda, cuda:N")
    parser.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                        help="precision of the WaveGlow WN networks; couplings and log-dets stay fp32. auto (default): "
                             "bf16 where the hardware has it (CUDA, CPUs with AVX512-BF16 / AMX), else fp32; fp16 "
                             "needs CUDA")
    parser.add_argument("--prenet-dropout", type=float, default=0.5,
                        help="Tacotron2 prenet dropout at inference (NVIDIA: 0.5; 0 = deterministic)")
    parser.add_argument("--pause", type=float, default=0.25, help="seconds of silence between sentences")
    parser.add_argument("--max-chars", type=int, default=MAX_TEXT_CHARS,
                        help="longest text accepted per utterance (default %(default)s, the demo's limit too)")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations (default 60)")


def read_text(args) -> str:
    """The text to speak, from the argument, --text-file or -i (exactly one of them)."""

    given = [x for x in (args.text, args.text_file, args.phrases) if x is not None]
    if len(given) != 1:
        raise UserError("give the text as an argument, with --text-file or with -i PHRASES (exactly one)")
    if args.text is not None:
        return args.text
    if args.text_file == "-":
        return sys.stdin.read()
    path = Path(args.text_file if args.text_file is not None else args.phrases)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such text file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read as UTF-8 text ({exc})") from None


def run(args) -> int:
    text = read_text(args)
    # This command prints the front end and vocoder labels itself; without a handler of our own, logging would
    # print the fallback warning a second time on stderr.
    logging.getLogger("tts").addHandler(logging.NullHandler())
    try:
        synth = pipeline.Synthesizer(frontend=args.frontend, vocoder=args.checkpoint, denoise=args.denoise,
                                     sigma=args.sigma, tacotron2=args.tacotron2, device=args.device,
                                     prenet_dropout=args.prenet_dropout, pause_seconds=args.pause,
                                     max_chars=args.max_chars, seed=args.seed,
                                     griffin_lim_iters=args.griffin_lim_iters, precision=args.precision)
        print(synth.frontend_label)
        print(synth.vocoder_label)
        if args.phrases is not None:
            return _speak_phrases(synth, text, Path(args.output))
        started = time.perf_counter()
        with _SentenceBar() as bar:
            audio, rate = synth.synthesize(text, progress=bar.update)
        seconds = time.perf_counter() - started
        path = write_wav_atomic(args.output, audio, rate)
    except FileNotFoundError:
        raise  # the command line reports it as one line already
    except OSError as exc:
        raise UserError(f"{args.output}: cannot write ({exc.strerror or exc})") from None
    print(f"wrote {path}: {len(audio) / rate:.2f} s at {rate} Hz in {seconds:.2f} s "
          f"(real-time factor {seconds / max(len(audio) / rate, 1e-9):.3f})")
    return 0


def _speak_phrases(synth, text: str, out: Path) -> int:
    """One wav per non-empty line of `text` into `out` (0001.wav, ...); failures reported, the rest go on."""
    from tqdm import tqdm


    lines = [line.strip() for line in text.splitlines()]
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line]
    if not numbered:
        raise UserError("the phrases file has no non-empty line")
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: with -i, -o names a folder, and this is a file")
    out.mkdir(parents=True, exist_ok=True)
    width = max(4, len(str(len(lines))))
    audio_seconds = compute_seconds = 0.0
    failed = []
    for i, line in tqdm(numbered, unit="line", desc="speaking", file=sys.stderr, dynamic_ncols=True):
        started = time.perf_counter()
        try:
            audio, rate = synth.synthesize(line)
            compute_seconds += time.perf_counter() - started
            write_wav_atomic(out / f"{i:0{width}d}.wav", audio, rate)
        except (SynthesisError, FrontendError, OSError) as exc:
            failed.append(f"line {i}: {exc}")
            print(f"waveglow tts: error: line {i}: {exc}", file=sys.stderr)
            continue
        audio_seconds += len(audio) / rate
    print(f"wrote {len(numbered) - len(failed)} of {len(numbered)} wav(s) into {out}: {audio_seconds:.2f} s of audio "
          f"in {compute_seconds:.2f} s (real-time factor {compute_seconds / max(audio_seconds, 1e-9):.3f})")
    return 1 if failed else 0


class _SentenceBar:
    """A tqdm bar over sentences on stderr, made on the first report (when the count is known); none for one."""

    def __init__(self):
        self.bar = None

    def update(self, done: int, total: int) -> None:
        if total < 2:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="sentence", desc="speaking", file=sys.stderr, dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()

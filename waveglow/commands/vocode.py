"""`waveglow vocode INPUT... -o OUT_DIR [--checkpoint CKPT|griffin-lim]`: mel files -> 16-bit WAV files (default: the
built-in voice when installed, else the labelled Griffin-Lim fallback, as `tts` and the demo do).

The work is done by `waveglow.vocode_files.MelToWavJob`; this module parses options, checks them up front (bad
options, an unwritable OUT_DIR or an unreadable checkpoint stop everything with exit 2), shows progress and
prints the summary. One bad input does not stop the others; exit status 1 if any failed.
"""
from __future__ import annotations

import logging
import sys
import tempfile
import time
from pathlib import Path

from waveglow.audio.mel_adapter import (load_format_params, load_stats, make_convention,
                                        vocoder_filterbank)
from waveglow.audio.mel_files import collect_mel_files
from waveglow.common.errors import UserError
from waveglow.common.precision import CHOICES as PRECISION_CHOICES
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow.vocoder.inference import choose_vocoder
from waveglow.vocoder.onnx_export import load_onnx_vocoder
from waveglow.vocoder.vocode_files import MelToWavJob, VocodeOptions


def add_arguments(parser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="mel file (.npy, .npz, .pt), folder of them, or @LIST (one file/folder per line)")
    parser.add_argument("-o", "--output-dir", required=True, metavar="OUT_DIR",
                        help="folder for <input stem>.wav files (created if missing)")
    parser.add_argument("--checkpoint", metavar="CKPT|griffin-lim",
                        help="WaveGlow checkpoint (NVIDIA .pt, DeepLearningExamples .pt, or our folder), or "
                             "'griffin-lim' (default: the built-in voice in waveglow/assets/waveglow_default if this "
                             "installation has one, else the Griffin-Lim fallback, which reads Tacotron2's 80-mel "
                             "22050 Hz mels)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA,
                        help="latent standard deviation (default %(default)s)")
    parser.add_argument("--denoise", type=float, default=0.0, metavar="STRENGTH",
                        help="denoiser strength, 0 = off (NVIDIA's examples use 0.01 to 0.1)")
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda or cuda:N")
    parser.add_argument("--precision", default="auto", choices=PRECISION_CHOICES,
                        help="precision of the WaveGlow WN networks; couplings and log-dets stay fp32. auto (default): "
                             "bf16 where the hardware has it (CUDA, CPUs with AVX512-BF16 / AMX), else fp32; fp16 "
                             "needs CUDA")
    parser.add_argument("--runtime", default="torch", choices=("torch", "onnx"),
                        help="torch (default), or onnx: run a graph from `waveglow export CKPT --onnx M.onnx` "
                             "(--checkpoint M.onnx) with onnxruntime, fp32 on the CPU; same audio for the same --seed")
    parser.add_argument("--mel-format", default="auto",
                        choices=("auto", "nvidia", "hifigan", "coqui", "espnet", "db", "log10"),
                        help="mel convention (auto: natural-log mels, Coqui [0,1]/[-4,4] by value range)")
    parser.add_argument("--mel-layout", default="auto", choices=("auto", "mels-first", "frames-first"),
                        help="[n_mels, frames] or [frames, n_mels] (auto: the axis of size n_mels)")
    parser.add_argument("--mel-config", metavar="JSON",
                        help="parameters of --mel-format as JSON (e.g. a Coqui config.json)")
    parser.add_argument("--mel-stats", metavar="NPZ",
                        help="normalisation stats .npz: mean/std (coqui: mel_mean/mel_std) or ESPnet feats_stats")
    parser.add_argument("--batch-size", type=int, default=1, metavar="N",
                        help="vocode up to N mels of equal length together (never padded)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="per-file seed: each wav equals model.infer(mel, sigma, "
                             "generator=torch.Generator().manual_seed(S)); default: fresh noise")
    parser.add_argument("--overwrite", action="store_true", help="replace existing wav files")
    parser.add_argument("--chunk-frames", type=int, default=None, metavar="N",
                        help="vocode mels longer than N frames in chunks of N (memory O(N); e.g. 512)")
    parser.add_argument("--overlap-frames", type=int, default=None, metavar="M",
                        help="context frames on each side of a chunk (default: the model's receptive field, "
                             "which makes chunks equal to full inference)")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, metavar="N",
                        help="Griffin-Lim iterations when Griffin-Lim speaks (default 60)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_options(args) -> None:
    if args.sigma < 0:
        raise UserError(f"--sigma must be >= 0, got {args.sigma}")
    if args.denoise < 0:
        raise UserError(f"--denoise must be >= 0, got {args.denoise}")
    if args.griffin_lim_iters < 1:
        raise UserError(f"--griffin-lim-iters must be >= 1, got {args.griffin_lim_iters}")
    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.chunk_frames is not None and args.chunk_frames < 1:
        raise UserError(f"--chunk-frames must be >= 1, got {args.chunk_frames}")
    if args.overlap_frames is not None:
        if args.chunk_frames is None:
            raise UserError("--overlap-frames needs --chunk-frames")
        if args.overlap_frames < 0:
            raise UserError(f"--overlap-frames must be >= 0, got {args.overlap_frames}")
    if args.mel_format == "auto" and (args.mel_config or args.mel_stats):
        raise UserError("--mel-config/--mel-stats need an explicit --mel-format")


def _prepare_output_dir(out: Path) -> None:
    """Create OUT_DIR and prove it writable now, rather than failing on every file later."""

    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: output folder exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UserError(f"{out}: cannot write to the output folder ({exc.strerror or exc})") from None


def _format_options(args, config):
    """(params, stats) for the mel adapter, validated once by building the convention (MelFormatError: a
    ToolkitError, reported by the command line as one line)."""
    params = load_format_params(args.mel_config) if args.mel_config else None
    stats = load_stats(args.mel_stats) if args.mel_stats else None
    if args.mel_format != "auto":
        target = vocoder_filterbank(config.n_mel_channels, config.sampling_rate, config.hop_length)
        make_convention(args.mel_format, target, params=params, stats=stats)
    return params, stats


def _ignored_by_griffin_lim(args) -> list[str]:
    """The WaveGlow-only options given with values that Griffin-Lim does not use."""
    given = {"--sigma": args.sigma != DEFAULT_SIGMA, "--denoise": args.denoise > 0, "--chunk-frames": args.chunk_frames,
             "--overlap-frames": args.overlap_frames is not None,
             "--precision": args.precision not in ("auto", "fp32")}  # Griffin-Lim runs in fp32
    return [flag for flag, used in given.items() if used]


def run(args) -> int:
    from tqdm import tqdm

    _check_options(args)
    if args.runtime == "onnx" and args.checkpoint is None:
        raise UserError("--runtime onnx needs --checkpoint MODEL.onnx (written by `waveglow export CKPT --onnx "
                        "MODEL.onnx`)")
    # This command prints which vocoder speaks itself; without a handler of our own, logging's last resort would
    # print the fallback warning a second time on stderr.
    vocode_log = logging.getLogger("waveglow.vocoder.inference")
    if not any(isinstance(h, logging.NullHandler) for h in vocode_log.handlers):
        vocode_log.addHandler(logging.NullHandler())
    out = Path(args.output_dir)
    _prepare_output_dir(out)
    if args.runtime == "onnx":
        vocoder = load_onnx_vocoder(args.checkpoint, args.device, args.precision)
    else:
        vocoder = choose_vocoder(args.checkpoint, args.device, args.precision, args.griffin_lim_iters)
    # which vocoder speaks, first (the fallback's own warning goes to the log, for Python callers)
    print(f"vocoder: {vocoder.describe()}", flush=True)
    ignored = _ignored_by_griffin_lim(args) if vocoder.is_fallback else []
    if ignored:
        verb = "applies" if len(ignored) == 1 else "apply"
        print(f"waveglow vocode: warning: {', '.join(ignored)} {verb} to WaveGlow only; Griffin-Lim ignores "
              f"{'it' if len(ignored) == 1 else 'them'}", file=sys.stderr)
    params, stats = _format_options(args, vocoder.config)
    options = VocodeOptions(sigma=args.sigma, denoise=args.denoise, seed=args.seed, mel_format=args.mel_format,
                            layout=args.mel_layout, format_params=params, format_stats=stats,
                            batch_size=args.batch_size, chunk_frames=args.chunk_frames,
                            overlap_frames=args.overlap_frames, overwrite=args.overwrite)
    collected = collect_mel_files(args.inputs)
    for problem in collected.problems:
        print(f"waveglow vocode: error: {problem}", file=sys.stderr)

    job = MelToWavJob(vocoder, out, options)
    started = time.perf_counter()
    bar = tqdm(total=len(collected.files), unit="file", desc="vocoding", file=sys.stderr,
               disable=args.no_progress or not collected.files, dynamic_ncols=True)
    totals = {"audio": 0.0}

    def on_result(result) -> None:
        for note in result.notes:
            bar.write(f"waveglow vocode: warning: {note}", file=sys.stderr)
        if result.error:
            bar.write(f"waveglow vocode: error: {result.error}", file=sys.stderr)
        totals["audio"] += result.audio_seconds
        if totals["audio"] > 0:
            bar.set_postfix_str(f"RTF {job.compute_seconds / totals['audio']:.3f}", refresh=False)
        bar.update(1)

    try:
        results = job.run(collected.files, on_result)
    finally:
        bar.close()
    elapsed = time.perf_counter() - started
    return _summarise(results, collected.problems, out, totals["audio"], job.compute_seconds, elapsed)


def _summarise(results, problems, out: Path, audio_seconds: float, compute_seconds: float, elapsed: float) -> int:
    written = [r for r in results if r.error is None]
    failed = [r.error for r in results if r.error is not None] + list(problems)
    rtf = f", real-time factor {compute_seconds / audio_seconds:.3f}" if audio_seconds else ""
    print(f"vocoded {len(written)} of {len(results)} file(s) into {out}: {audio_seconds:.2f} s of audio in "
          f"{elapsed:.2f} s{rtf}")
    clipped = sum(r.clipped for r in written)
    if clipped:
        print(f"clipped {clipped} samples to [-1, 1] in {sum(1 for r in written if r.clipped)} file(s)")
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for line in failed:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0

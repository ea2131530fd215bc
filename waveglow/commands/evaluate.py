"""`waveglow evaluate --checkpoint CKPT --data DATA`: copy-synthesis quality of a WaveGlow on the held-out clips.

Rows: WaveGlow resynthesis, Griffin-Lim from the same mel (baseline), the recordings themselves (reference), and
the random-phase floor (the mel's envelope with random phase).
Columns: DNSMOS P.808 and P.835 SIG/BAK/OVRL, F0 RMSE (cents) and V/UV error, MR-STFT distance full band and
0-8 kHz, PESQ-WB, STOI, MCD (dB), PocketSphinx WER (%), held-out bits per sample (WaveGlow only), RTF.
See waveglow.evaluation.runner for the definitions; needs `pip install waveglow-toolkit[eval]` (pesq and pystoi are
required; without speechmos / onnxruntime the DNSMOS columns are empty, with a note).
"""
from __future__ import annotations

import json
from waveglow.common.atomic import atomic_write_text
from waveglow.common.errors import UserError
from waveglow.evaluation.runner import EvaluationSettings, evaluate, markdown_table
from waveglow.vocoder.loading import load_for_scoring
from waveglow.vocoder.config import DEFAULT_SIGMA
from waveglow_data.ljspeech import read_utterances
from waveglow_data.splits import is_held_out


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint (ckpt_N.pt, checkpoints/ or run dir), our format dir, "
                             "or an NVIDIA / DeepLearningExamples .pt")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory or filelist (held-out clips used)")
    parser.add_argument("--out", default="results.json", help="results JSON (default: results.json)")
    parser.add_argument("--max-utterances", type=int, default=None,
                        help="evaluate only the first N held-out clips in list order (default: all)")
    parser.add_argument("--sigma", type=float, default=DEFAULT_SIGMA,
                        help="WaveGlow synthesis sigma (default %(default)s)")
    parser.add_argument("--denoise", type=float, default=0.0, help="WaveGlow denoiser strength (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="latent and Griffin-Lim phase seed (default 0)")
    parser.add_argument("--no-wer", action="store_true", help="skip the PocketSphinx word error rate")
    parser.add_argument("--griffin-lim-iters", type=int, default=60, help="Griffin-Lim iterations (default 60)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N (WaveGlow synthesis)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "fp16"),
                        help="precision of the WN networks in the WaveGlow synthesis (default fp32)")
    parser.add_argument("--raw-weights", action="store_true",
                        help="training checkpoints: score the optimizer's weights, not their moving average")


def held_out_utterances(data: str, max_utterances: int | None):
    """The held-out clips of `data` in list order, at most `max_utterances`. Raises UserError if there are none."""

    utterances = [u for u in read_utterances(data) if is_held_out(u.utt_id)]
    if not utterances:
        raise UserError(f"{data}: no held-out clips (LJ050-*, LJ002-0181..0200)")
    return utterances[:max_utterances] if max_utterances is not None else utterances


def run(args) -> int:
    if args.max_utterances is not None and args.max_utterances < 1:
        raise UserError(f"--max-utterances must be >= 1, got {args.max_utterances}")
    if args.sigma < 0 or args.denoise < 0 or args.griffin_lim_iters < 1:
        raise UserError("--sigma and --denoise must be >= 0 and --griffin-lim-iters >= 1")
    for module, package in (("pesq", "pesq"), ("pystoi", "pystoi")) + ((("pocketsphinx", "pocketsphinx"),)
                                                                      if not args.no_wer else ()):
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"{package} is not installed: pip install 'waveglow-toolkit[eval]'") from None
    utterances = held_out_utterances(args.data, args.max_utterances)
    settings = EvaluationSettings(sigma=args.sigma, denoise=args.denoise, seed=args.seed,
                                  griffin_lim_iters=args.griffin_lim_iters, wer=not args.no_wer, device=args.device,
                                  precision=args.precision)
    results = evaluate(load_for_scoring(args.checkpoint, raw=args.raw_weights), utterances, settings)
    results["data"] = str(args.data)
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(markdown_table(results))
    print(f"\nwrote {args.out}")
    return 0

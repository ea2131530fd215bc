"""`waveglow eval-nll --checkpoint CKPT --data DATA`: exact held-out negative log-likelihood in bits per sample.

Whole utterances (not segments), audio as a continuous density on [-1, 1] (int16 / 32768):
    NLL = sum z^2 / (2 sigma^2) + N * 0.5 * log(2 pi sigma^2) - log|det dz/dx|   [nats, N samples]
    bits per sample = NLL / N / ln 2;   bits per 16-bit sample = bits per sample + 15   (bin width 2^-15)
See waveglow.training.nll for the details.
"""
from __future__ import annotations

import json
import sys
from waveglow.cli import main as cli_main
from waveglow.common.errors import UserError
from waveglow.training.nll import HeldOutSet
from waveglow.vocoder.loading import load_for_scoring
from waveglow_data.ljspeech import read_utterances
from waveglow_data.splits import is_held_out


def add_arguments(parser) -> None:
    parser.add_argument("--checkpoint", required=True,
                        help="training checkpoint (ckpt_N.pt, checkpoints/ or run dir), our format dir, "
                             "or an NVIDIA / DeepLearningExamples .pt")
    parser.add_argument("--data", required=True, help="LJSpeech-layout directory or filelist")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="score clips in list order up to this much audio (default: all)")
    parser.add_argument("--all", action="store_true",
                        help="score every clip of --data, not only the held-out ones (LJ050-*, LJ002-0181..0200)")
    parser.add_argument("--sigma", type=float, default=None,
                        help="prior std (default: the training sigma recorded with the checkpoint, else 1.0)")
    parser.add_argument("--dequantize", action="store_true",
                        help="add uniform noise in [0, 2^-15) first: the 16-bit figure becomes an upper bound")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    parser.add_argument("--float64", action="store_true", help="run the model in float64")
    parser.add_argument("--resample", action="store_true", help="resample clips whose rate differs")
    parser.add_argument("--json", action="store_true", help="print JSON (with per-utterance bits)")
    parser.add_argument("--raw-weights", action="store_true",
                        help="training checkpoints: score the optimizer's weights, not their moving average")


def run(args) -> int:
    import torch

    loaded = load_for_scoring(args.checkpoint, raw=args.raw_weights)
    model = loaded.model
    sigma = args.sigma if args.sigma is not None else (loaded.train_sigma or 1.0)
    if sigma <= 0:
        raise UserError(f"--sigma must be > 0, got {sigma}")
    utterances = read_utterances(args.data)
    if not args.all:
        utterances = [u for u in utterances if is_held_out(u.utt_id)]
        if not utterances:
            raise UserError(f"{args.data}: no held-out clips (LJ050-*, LJ002-0181..0200); use --all to score "
                            "every clip")
    mel = loaded.mel_spectrogram()
    held_out = HeldOutSet.load(utterances, mel, args.max_seconds, resample=args.resample)
    model = model.to(device=torch.device(args.device), dtype=torch.float64 if args.float64 else torch.float32)
    result = held_out.evaluate(model, sigma, dequantize=args.dequantize)
    if args.json:
        print(json.dumps({"checkpoint": loaded.source, "kind": loaded.kind, "iteration": loaded.iteration,
                          "weights": loaded.weights, "seconds": held_out.seconds, "dequantized": args.dequantize,
                          **result.to_dict()},
                         indent=2))
        return 0
    where = f" (iteration {loaded.iteration}, {loaded.weights} weights)" if loaded.iteration is not None else ""
    print(f"checkpoint:   {loaded.source}{where}")
    print(f"audio:        {result.n_utterances} whole clips, {held_out.seconds:.1f} s, {result.n_samples} samples, "
          f"sigma {sigma}")
    print(f"NLL:          {result.bits_per_sample:.5f} bits per sample (continuous density, audio in [-1, 1])")
    label = "upper bound, dequantized" if args.dequantize else "density x bin width 2^-15"
    print(f"              {result.bits_per_16bit_sample:.5f} bits per 16-bit sample ({label})")
    print(f"              {result.nats_per_sample:.5f} nats per sample")
    return 0


def main(argv: list[str] | None = None) -> int:
    """This command without the `waveglow` front end."""

    return cli_main(["eval-nll", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())

"""`waveglow demo`: serve the browser demo (gradio) on this machine; no share links, no analytics."""
from __future__ import annotations

from pathlib import Path

from waveglow.audio.griffin_lim import is_griffin_lim_name
from waveglow.common.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 exposes it to your network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--checkpoint", default=None, metavar="CKPT|griffin-lim",
                        help="vocoder every tab starts with: a WaveGlow checkpoint, or 'griffin-lim' (default: the "
                             "built-in voice if this installation has one, else the Griffin-Lim fallback)")
    parser.add_argument("--tacotron2", default=None, metavar="CKPT",
                        help="Tacotron2 checkpoint pre-filled for the tacotron2 text frontend")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="precision of the WaveGlow WN networks (auto, the default: bf16 on CPUs with "
                             "AVX512-BF16 / AMX and on CUDA, else fp32)")


def _check_paths(args) -> None:
    """A checkpoint named on the command line must exist now, not fail in the page later."""
    if args.checkpoint and not is_griffin_lim_name(args.checkpoint) and not Path(args.checkpoint).exists():
        raise UserError(f"--checkpoint {args.checkpoint}: no such file or folder (expected a WaveGlow checkpoint "
                        "or 'griffin-lim')")
    if args.tacotron2 and not Path(args.tacotron2).is_file():
        raise UserError(f"--tacotron2 {args.tacotron2}: no such file (expected a Tacotron2 .pt checkpoint)")


def run(args) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    _check_paths(args)
    try:
        from waveglow_demo import backend
        from waveglow_demo.app import main
    except ModuleNotFoundError as exc:
        raise UserError(f"the demo needs {exc.name}: pip install gradio") from None
    backend.PRECISION = args.precision
    main(host=args.host, port=args.port, default_checkpoint=args.checkpoint, default_tacotron2=args.tacotron2)
    return 0

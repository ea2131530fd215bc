"""`waveglow demo`: serve the browser demo (gradio) on this machine; no share links, no analytics."""
from __future__ import annotations
from waveglow.common.errors import UserError


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: %(default)s; 0.0.0.0 exposes it to your network)")
    parser.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    parser.add_argument("--checkpoint", default=None,
                        help="WaveGlow checkpoint to pre-fill in every tab (default: the built-in vocoder)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="precision of the WaveGlow WN networks (auto, the default: bf16 on CPUs with "
                             "AVX512-BF16 / AMX and on CUDA, else fp32)")


def run(args) -> int:
    if not 0 < args.port < 65536:
        raise UserError(f"--port must be in 1..65535, got {args.port}")
    try:
        from demo import backend
        from demo.app import main
    except ModuleNotFoundError as exc:
        raise UserError(f"the demo needs {exc.name}: pip install gradio") from None
    backend.PRECISION = args.precision
    main(host=args.host, port=args.port, default_checkpoint=args.checkpoint)
    return 0

"""`waveglow convert IN OUT`: any supported checkpoint -> our format (config.json + model.safetensors)."""
from __future__ import annotations

from pathlib import Path
from waveglow.common.errors import UserError
from waveglow.vocoder.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from waveglow.vocoder.model import load_waveglow


def add_arguments(parser) -> None:
    parser.add_argument("input", help="checkpoint to read (any supported format)")
    parser.add_argument("output", help="directory to write config.json and model.safetensors into")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing checkpoint in OUTPUT")
    parser.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32",
                        help="storage precision of the weights (fp16/bf16: half the file; they load as fp32)")


def run(args) -> int:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")
    if not args.overwrite and any((out / name).exists() for name in (CONFIG_FILE, WEIGHTS_FILE)):
        raise UserError(f"{out}: already holds a checkpoint (use --overwrite to replace it)")
    model, info = load_waveglow(args.input)
    try:
        model.save_pretrained(out, dtype=args.dtype, mel=info.mel)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None
    print(f"{args.input} ({info.source_format}, {model.num_parameters():,} parameters) -> {out} ({args.dtype})")
    return 0

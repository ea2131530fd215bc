"""`waveglow export CKPT --onnx OUT.onnx`: WaveGlow inference as an ONNX graph (dynamic batch and length), checked
against torch before it is kept; `waveglow vocode --runtime onnx --checkpoint OUT.onnx` runs it with onnxruntime."""
from __future__ import annotations

from pathlib import Path
from waveglow.common.errors import UserError
from waveglow.vocoder.model import load_waveglow
from waveglow.vocoder.onnx_export import export_onnx


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", metavar="CKPT", help="WaveGlow checkpoint (any format `vocode` reads, or a run)")
    parser.add_argument("--onnx", required=True, metavar="OUT.onnx",
                        help="the ONNX file to write: inputs mel [B, n_mel, frames], z (the latent), sigma; output "
                             "audio [B, frames * hop]; batch and length dynamic")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT.onnx")
    parser.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset (default 17)")
    parser.add_argument("--tolerance", type=float, default=1e-4, metavar="T",
                        help="largest |onnxruntime - torch| accepted on the check mels (default 1e-4); a worse "
                             "export is not kept")


def run(args) -> int:
    out = Path(args.onnx)
    if out.is_dir():
        raise UserError(f"{out}: is a folder (give the .onnx file name)")
    if out.exists() and not args.overwrite:
        raise UserError(f"{out}: exists (use --overwrite to replace it)")
    if not args.tolerance > 0:
        raise UserError(f"--tolerance must be > 0, got {args.tolerance}")
    model, info = load_waveglow(args.checkpoint)
    try:
        report = export_onnx(model, out, opset=args.opset, tolerance=args.tolerance)
    except OSError as exc:
        raise UserError(f"{out}: cannot write ({exc.strerror or exc})") from None
    frames = " and ".join(map(str, report.frames))
    print(f"{args.checkpoint} ({info.source_format}, {model.num_parameters():,} parameters) -> {out} "
          f"({report.bytes / 1e6:.1f} MB, opset {args.opset}, fp32, dynamic batch and length); onnxruntime vs "
          f"torch on {frames}-frame mels: max |diff| {report.max_error:.2e} (tolerance {args.tolerance:g})")
    return 0

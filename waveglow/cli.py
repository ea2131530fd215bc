"""`waveglow` command line, the one composition root (nothing imports it): one module per subcommand under
`waveglow/commands/`, each defining `add_arguments(parser)` and `run(args) -> int`.

A command's module is imported only when that command is parsed, so `waveglow --help` and `--version` import no
torch, and `waveglow info` never imports gradio. Errors derived from `waveglow.common.errors.ToolkitError` end as
one line and their `exit_code`.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from waveglow.common.errors import ToolkitError, one_line

# (command name, module path, one-line summary). Keep sorted by the order users meet them.
COMMANDS: list[tuple[str, str, str]] = [
    ("info", "waveglow.commands.info", "show a checkpoint's source format, config and parameter count"),
    ("convert", "waveglow.commands.convert",
     "convert an NVIDIA / DeepLearningExamples checkpoint to config.json + model.safetensors"),
    ("export", "waveglow.commands.export",
     "export a WaveGlow checkpoint's inference to ONNX (for vocode --runtime onnx / onnxruntime)"),
    ("vocode", "waveglow.commands.vocode",
     "vocode mel spectrograms (.npy/.npz/.pt files, folders, @lists) to 16-bit WAV files"),
    ("tts", "waveglow.commands.tts",
     "synthesise speech from text: Festival or Tacotron2 mels, vocoded by WaveGlow or the Griffin-Lim fallback"),
    ("demo", "waveglow.commands.demo",
     "serve the browser demo (text to speech, vocoding, latent space) on a local port"),
    ("train", "waveglow.commands.train",
     "train a WaveGlow (checkpoints, TensorBoard, held-out bits per sample; torchrun for several GPUs)"),
    ("eval-nll", "waveglow.commands.eval_nll",
     "held-out negative log-likelihood (bits per sample) of whole utterances under a WaveGlow checkpoint"),
    ("evaluate", "waveglow.commands.evaluate",
     "DNSMOS / F0 / V-UV / MR-STFT / PESQ / STOI / MCD / WER / bits-per-sample of WaveGlow copy-synthesis on "
     "held-out clips, vs Griffin-Lim, the recordings and the random-phase floor"),
    ("glow", "waveglow.commands.glow", "image Glow: train | eval | sample | interpolate | manifold | manipulate"),
]


# Flags of NVIDIA's inference.py / DeepLearningExamples' inference.py that users bring along, and ours for them.
NVIDIA_FLAGS = {"-s": "--sigma", "--sigma_infer": "--sigma", "--denoiser_strength": "--denoise",
                "-d": "--denoise", "--cpu": "--device cpu", "--fp16": "--precision fp16",
                "--is_fp16": "--precision fp16", "-w": "--checkpoint", "--waveglow": "--checkpoint",
                "-f": "INPUT... (mel files or folders)", "--filelist_path": "INPUT... or @LIST",
                "--input": "tts -i PHRASES.txt",
                "--sampling_rate": "(read from the checkpoint)"}


class _Parser(argparse.ArgumentParser):
    """argparse, with a hint when an unknown flag is one of NVIDIA's (e.g. -s -> --sigma)."""

    def error(self, message: str):
        if "unrecognized arguments" in message:
            flags = [word.split("=")[0] for word in message.split(":", 1)[1].split()]
            hints = [f"{flag} -> {NVIDIA_FLAGS[flag]}" for flag in flags if flag in NVIDIA_FLAGS]
            if hints:
                message += f" (NVIDIA's flag names; here: {', '.join(hints)})"
        super().error(message)


class _LazySubcommands(argparse._SubParsersAction):
    """Sub-commands whose module is imported, and its arguments added, only when the command is parsed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.unloaded: dict[str, str] = {}  # command name -> module path

    def load(self, name: str) -> None:
        module_path = self.unloaded.pop(name, None)
        if module_path is not None:
            module = importlib.import_module(module_path)
            module.add_arguments(self.choices[name])
            self.choices[name].set_defaults(_module=module)

    def __call__(self, parser, namespace, values, option_string=None):
        self.load(values[0])  # an unknown name is left to argparse's own message
        super().__call__(parser, namespace, values, option_string)


def build_parser(load_all: bool = False) -> argparse.ArgumentParser:
    """The `waveglow` parser; `load_all` adds every command's arguments now (else when its command is parsed)."""
    parser = _Parser(prog="waveglow", description="WaveGlow / Glow normalizing-flow toolkit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.register("action", "lazy_parsers", _LazySubcommands)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", action="lazy_parsers")
    sub.required = True
    for name, module_path, summary in COMMANDS:
        sub.add_parser(name, help=summary, description=summary)
        sub.unloaded[name] = module_path
        if load_all:
            sub.load(name)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("waveglow-toolkit")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (ToolkitError, FileNotFoundError) as exc:
        print(f"waveglow {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except OSError as exc:  # a full disk, a lost mount: one line, not a traceback
        print(f"waveglow {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"waveglow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

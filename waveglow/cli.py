"""`waveglow` command line: one module per subcommand under `waveglow/commands/`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules are imported only when their command runs, so `waveglow info` never imports gradio.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# (command name, module path). Keep sorted by the order users meet them.
COMMANDS: list[tuple[str, str]] = [
    ("info", "waveglow.commands.info"),
    ("convert", "waveglow.commands.convert"),
    ("export", "waveglow.commands.export"),
    ("vocode", "waveglow.commands.vocode"),
    ("tts", "waveglow.commands.tts"),
    ("demo", "waveglow.commands.demo"),
    ("train", "waveglow.commands.train"),
    ("eval-nll", "waveglow.commands.eval_nll"),
    ("evaluate", "waveglow.commands.evaluate"),
    ("glow", "waveglow.commands.glow"),
]


class UserError(Exception):
    """An error caused by the user's input: printed as one line, exit status 2."""


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="waveglow", description="WaveGlow / Glow normalizing-flow toolkit")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_path in COMMANDS:
        module = importlib.import_module(module_path)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("waveglow-toolkit")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    from data.errors import DataError
    from waveglow.checkpoint import CheckpointError
    from waveglow.config import ConfigError
    from waveglow.safe_loading import one_line

    args = build_parser().parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except (UserError, CheckpointError, ConfigError, DataError, FileNotFoundError) as exc:
        print(f"waveglow {args.command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
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

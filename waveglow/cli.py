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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="waveglow", description="WaveGlow / Glow normalizing-flow toolkit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_path in COMMANDS:
        module = importlib.import_module(module_path)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


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

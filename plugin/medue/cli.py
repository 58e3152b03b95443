"""The ``medue`` command line: parse arguments, run one command, turn problems into messages.

Each sub-command lives in ``medue.commands.<name>`` with two functions: ``add_parser`` (its
arguments) and ``run`` (returns the exit code). This module only wires them together and makes
sure users see one clear line per problem, never a traceback: 0 = all done, 1 = some inputs
failed (listed), 2 = bad usage or a bad single input, 130 = interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from medue import __version__
from medue.commands import evaluate, fit, info, protect, serve
from medue.errors import InputError

COMMANDS = {"info": info, "fit": fit, "protect": protect, "evaluate": evaluate, "serve": serve}
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medue",
        description="Protect medical imaging datasets with unlearnable perturbations.",
    )
    parser.add_argument("--version", action="version", version=f"medue {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub.add_parser(name, help=module.HELP, description=module.__doc__))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return COMMANDS[args.command].run(args)
    except InputError as error:
        print(f"medue: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("medue: interrupted; no partial output was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

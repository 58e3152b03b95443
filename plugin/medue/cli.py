"""The ``medue`` command line: parse arguments, run one command, turn problems into messages.

Each sub-command lives in ``medue.commands.<name>`` with two functions: ``add_parser`` (its
arguments) and ``run`` (returns the exit code). This module only wires them together and makes
sure users see one clear line per problem, never a traceback: 0 = all done, 1 = some inputs
failed (listed), 2 = bad usage or a bad single input, 130 = interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from medue import __version__, distributed
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
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    nproc = getattr(args, "nproc", 1)
    if nproc < 1:
        print("medue: error: --nproc must be at least 1", file=sys.stderr)
        return EXIT_INPUT_ERROR
    if nproc > 1 and "WORLD_SIZE" not in os.environ:  # start the processes; each runs the rest
        return distributed.launch(nproc, distributed.strip_nproc(argv))
    try:
        distributed.init_from_env()  # a process group only under torchrun with WORLD_SIZE > 1
        return COMMANDS[args.command].run(args)
    except InputError as error:
        print(f"medue: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("medue: interrupted; no partial output was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    sys.exit(main())

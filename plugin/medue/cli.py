"""The ``medue`` command line: parse arguments, run one command, turn problems into messages.

Each sub-command lives in ``medue.commands.<name>`` with two functions: ``add_parser`` (its
arguments) and ``run`` (returns the exit code). This module only wires them together and makes
sure users see one clear line per problem, never a traceback: 0 = all done, 1 = some inputs
failed (listed), 2 = bad usage or a bad single input, 3 = a process of a ``--nproc`` job was
killed or crashed (run the same command again to resume), 130 = interrupted.

Only the command being run is imported, and the commands load torch and MONAI only when they
fit or apply a method: ``medue --help`` answers in 0.08 s and ``medue info`` or a refused job
in about 2 s, instead of 11-13 s (docs/BENCHMARKS.md §7).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib import import_module

from medue import __version__
from medue.errors import InputError

COMMANDS = {
    "info": "describe an image or a dataset folder",
    "fit": "fit a method on a dataset and save it (a generator, or a pattern's key)",
    "protect": "protect a dataset (or one image) into an output folder",
    "restore": "give the key holder the originals back, byte for byte, from a release",
    "evaluate": "train victims on a protected copy and its original; test both on clean cases",
    "verify": "test a suspect model for use of a release: a p-value against decoy keys",
    "serve": "serve a studies folder or a DICOMweb PACS: previews and protect jobs over HTTP",
}
"""Each command and its one-line help (``medue --help``); its module is ``medue.commands.NAME``."""
EXIT_INPUT_ERROR = 2
EXIT_INTERRUPTED = 130


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of ``command`` (every command's when None)."""
    parser = argparse.ArgumentParser(
        prog="medue",
        description="Protect medical imaging datasets with unlearnable perturbations.",
    )
    parser.add_argument("--version", action="version", version=f"medue {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, summary in COMMANDS.items():
        if command in (None, name):
            module = import_module(f"medue.commands.{name}")
            module.add_parser(sub.add_parser(name, help=summary, description=module.__doc__))
        else:
            sub.add_parser(name, help=summary)
    return parser


def _command(argv: list[str]) -> str:
    """The command ``argv`` names (its first word that is one), or "" when it names none."""
    return next((word for word in argv if word in COMMANDS), "")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    args = build_parser(command).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    nproc = getattr(args, "nproc", 1)
    if nproc < 1:
        print("medue: error: --nproc must be at least 1", file=sys.stderr)
        return EXIT_INPUT_ERROR
    grouped = nproc > 1 or int(os.environ.get("WORLD_SIZE", 1)) > 1
    distributed = import_module("medue.distributed") if grouped else None  # torch: only then
    if nproc > 1 and "WORLD_SIZE" not in os.environ:  # start the processes; each runs the rest
        return distributed.launch(nproc, distributed.strip_nproc(argv))
    try:
        if distributed is not None:
            distributed.init_from_env()  # joins the process group torchrun describes
        return import_module(f"medue.commands.{command}").run(args)
    except InputError as error:
        print(f"medue: error: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except KeyboardInterrupt:
        print("medue: interrupted; no partial output was left behind", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if distributed is not None:
            distributed.shutdown()


if __name__ == "__main__":
    sys.exit(main())

"""Give the key holder the originals back, byte for byte: ``medue restore RELEASE PRIVATE OUT``.

RELEASE is the published folder, PRIVATE the owner's private folder of the same run (its key,
manifest and restoration data). Every original is written under OUT at its original relative
path and in its original format (DICOM with its original UIDs), checked against the sha256
recorded when it was protected. A wrong key, a modified release.json or released file, or an
existing file at a target is refused with one line naming the file; other cases go on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from medue.restore.release import restore_release


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("release", type=Path, help="the release folder (as published)")
    parser.add_argument("private", type=Path, help="the run's private folder (OUT.private)")
    parser.add_argument("output", type=Path, help="where the originals go (new or empty)")
    parser.add_argument(
        "--key-file", type=Path, metavar="PATH",
        help="the secret key (default: the `key` file in PRIVATE)",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    done = restore_release(args.release, args.private, args.output, args.key_file)
    stored = f" ({done.stored_copies} from stored copies)" if done.stored_copies else ""
    if done.written:
        print(f"restored {len(done.written)} files into {args.output}{stored}, each "
              "byte-identical to its original (sha256 checked)")  # fmt: skip
    else:
        print(f"restored nothing into {args.output}: every case was refused (below)")
    for problem in done.problems:
        print(f"medue: error: {problem}", file=sys.stderr)
    return 1 if done.problems else 0

"""One module per ``medue`` sub-command (see ``medue.cli``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from medue.batch import Failure


def report_failures(failures: Sequence[Failure], total: int) -> int:
    """Print the failed and left-out inputs after the work is done; the exit code to return.

    0 when nothing failed (inputs with nothing to protect are listed, not counted), 2 when the
    one input given failed, 1 when some of several failed.
    """
    skipped = [f for f in failures if f.skipped]
    failed = [f for f in failures if not f.skipped]
    if skipped:
        print(f"\n{len(skipped)} inputs hold nothing to protect (left out):", file=sys.stderr)
        for item in skipped:
            print(f"  {item}", file=sys.stderr)
    if not failed:
        return 0
    if total == 1:
        print(f"medue: error: {failed[0]}", file=sys.stderr)
        return 2
    print(f"\n{len(failed)} of {total} inputs failed:", file=sys.stderr)
    for failure in failed:
        print(f"  {failure}", file=sys.stderr)
    return 1

"""One module per ``medue`` sub-command (see ``medue.cli``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from medue.batch import Failure


def report_failures(failures: Sequence[Failure], total: int) -> int:
    """Print the failed inputs after the work is done; the exit code to return (0 or 1)."""
    if not failures:
        return 0
    if total == 1:
        print(f"medue: error: {failures[0]}", file=sys.stderr)
        return 1
    print(f"\n{len(failures)} of {total} inputs failed:", file=sys.stderr)
    for failure in failures:
        print(f"  {failure}", file=sys.stderr)
    return 1

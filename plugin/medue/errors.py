"""The one exception type users see.

Every problem caused by the user's data or parameters is raised as :class:`InputError`, naming the
file and the problem in one line. The CLI and the server catch it and show the message, never a
traceback; anything else escaping is a bug in MedUE.
"""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """A problem with one input (file, folder or parameter), stated for a person."""

    def __init__(self, source: str | Path | None, problem: str) -> None:
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class NotAnImage(InputError):
    """An input that holds nothing MedUE protects (a folder of RT Structure Sets, dose grids or
    reports): named in the records as left out of the release, but not counted as a failure."""

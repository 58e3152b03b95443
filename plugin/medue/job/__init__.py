"""The protect-dataset job: scan the cases, fit the method on a sample, protect case by case.

``protect_dataset`` is what the CLI, the server and the benchmark call; it reports progress
through a callback and stops between steps when its cancel token is set. A victim check of the
written release is a separate step after it (``medue.job.check.check_written_release``), which
adds its section to the release's record with ``record_check``.

The job itself (``protect_dataset``, with torch and MONAI) loads on first use (PEP 562 module
``__getattr__``); ``ProtectSettings`` and the record's helpers load nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medue.job.manifest import record_check
from medue.job.settings import ProtectSettings

if TYPE_CHECKING:
    from medue.job.run import ProtectOutcome, protect_dataset

__all__ = ["ProtectOutcome", "ProtectSettings", "protect_dataset", "record_check"]


def __getattr__(name: str) -> Any:
    if name in ("ProtectOutcome", "protect_dataset"):
        from medue.job import run  # noqa: PLC0415 (torch and MONAI load here)

        return getattr(run, name)
    raise AttributeError(f"module 'medue.job' has no attribute {name!r}")

"""The protect-dataset job: scan the cases, fit the method on a sample, protect case by case.

``protect_dataset`` is what the CLI, the server and the benchmark call; it reports progress
through a callback and stops between steps when its cancel token is set. A victim check of the
written release is a separate step after it (``medue.job.check.check_written_release``), which
adds its section to the release's record with ``record_check``.
"""

from medue.job.manifest import record_check
from medue.job.run import ProtectOutcome, protect_dataset
from medue.job.settings import ProtectSettings

__all__ = ["ProtectOutcome", "ProtectSettings", "protect_dataset", "record_check"]

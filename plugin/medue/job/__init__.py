"""The protect-dataset job: prepare every case, fit the method, apply it, write, measure, record.

``protect_dataset`` is what the CLI, the server and the benchmark call; it reports progress
through a callback and stops between steps when its cancel token is set.
"""

from medue.job.run import ProtectSettings, protect_dataset

__all__ = ["ProtectSettings", "protect_dataset"]

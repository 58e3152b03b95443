"""The public description of a release: ``RELEASE.md`` and ``release.json`` in the release folder.

What a downloader may know (``describe``): which family of method and which preset protected the
images, how visible the change is over the whole dataset, the MedUE version, and a commitment to
the key (``medue.keys.commitment``). Nothing per image, nothing that reveals the key or the
method's parameters: those stay in the owner's private folder (``medue.job.private``).
"""

from __future__ import annotations

from medue.release.describe import (
    RELEASE_JSON,
    RELEASE_MD,
    read_release_description,
    release_description,
    release_method,
    write_release_description,
)

__all__ = [
    "RELEASE_JSON",
    "RELEASE_MD",
    "read_release_description",
    "release_description",
    "release_method",
    "write_release_description",
]

"""Where a server's studies come from: a folder, or a PACS over DICOMweb.

Both give the same two things to the job: the image ids a client may ask for, and, for a job,
a local folder of cases for the engine (``medue.job.protect_dataset``) to read.

- :class:`FolderSource`: a studies folder (MONAI Label's local layout, a Decathlon folder, DICOM
  series folders); image ids as ``medue.datasets`` names them; cases read in place.
- :class:`PacsSource`: a DICOMweb root; image id = Series Instance UID (as MONAI Label's DICOMweb
  datastore names them). A job first fetches its series into the server's cache (complete,
  verified copies, kept for the next job), then protects them like a folder; on request each
  protected series is stored back as a new derived series of the same study (STOW-RS). A PACS
  holds no label maps here, so segmentation methods need an ROI box.
"""

from __future__ import annotations

from pathlib import Path

from medue.class_datasets import discover_classified
from medue.datasets import Case, discover_cases
from medue.errors import InputError
from medue.io.dicomweb import StoredSeries, find_series, list_series, retrieve_series, store_series
from medue.methods.base import CancelToken, ProgressCallback, check_cancel


class FolderSource:
    """Studies in a local folder (only ever read)."""

    remote = False

    def __init__(self, folder: str | Path) -> None:
        self.root = Path(folder).resolve()

    def image_ids(self, classification: bool) -> list[str]:
        return [case.image_id for case in self._cases(classification)]

    def fetch(self, ids: list[str], classification: bool, progress: ProgressCallback,
              cancel: CancelToken) -> tuple[Path, list[Case]]:  # fmt: skip
        """The folder to protect and its cases among ``ids`` (read in place)."""
        wanted = set(ids)
        return self.root, [c for c in self._cases(classification) if c.image_id in wanted]

    def _cases(self, classification: bool) -> list[Case]:
        return discover_classified(self.root) if classification else discover_cases(self.root)


class PacsSource:
    """Studies in a PACS, fetched into ``cache`` when a job needs them."""

    remote = True

    def __init__(self, url: str, cache: Path) -> None:
        self.url = url.rstrip("/")
        self.root = Path(cache)

    def image_ids(self, classification: bool) -> list[str]:
        if classification:
            raise InputError(self.url, "classification datasets are read from a folder, not a PACS")
        return [ref.series_instance_uid for ref in list_series(self.url)]

    def fetch(self, ids: list[str], classification: bool, progress: ProgressCallback,
              cancel: CancelToken) -> tuple[Path, list[Case]]:  # fmt: skip
        """Fetch the series ``ids`` into the cache (a copy already there and complete is kept)."""
        cases = []
        for index, uid in enumerate(ids):
            check_cancel(cancel)
            folder = retrieve_series(self.url, find_series(self.url, uid), self.root / uid)
            cases.append(Case(uid, folder))
            progress("retrieve", index + 1, len(ids))
        return self.root, cases

    def store(self, series_folder: Path) -> StoredSeries:
        """STOW-RS a protected series folder back as a new derived series of its study."""
        return store_series(self.url, series_folder)


def source_for(studies: str, cache: Path) -> FolderSource | PacsSource:
    """A PACS for an ``http(s)://`` DICOMweb root, else a folder."""
    if studies.startswith(("http://", "https://")):
        return PacsSource(studies, cache)
    return FolderSource(studies)

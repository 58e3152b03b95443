"""Talking DICOMweb to a PACS: list its series, fetch one, store a protected copy back.

The three DICOMweb services of PS3.18 (Web Services), through ``dicomweb-client``:

* QIDO-RS (PS3.18 section 10.6, Search Transaction) to list series and their instances;
* WADO-RS (PS3.18 section 10.4, Retrieve Transaction) to fetch a series' instances as they are
  stored (``transfer-syntax=*``: a compressed original is not transcoded on the way);
* STOW-RS (PS3.18 section 10.5, Store Transaction) to add a protected copy to the PACS.

A protected copy goes back only as a NEW derived series: every file must have Image Type value 1
DERIVED (PS3.3 C.7.6.1.1.2, as ``medue protect`` writes it) and its Series Instance UID must be
unknown to the PACS, so an original is never overwritten or added to. The copy keeps the source's
Study Instance UID, so it lands in the same study beside the original.

What is returned or logged names series by their UIDs, modality and description only: no patient
name or id from the headers. Every request has a timeout; every failure (server down, HTTP error,
unknown series, refused store) is raised as :class:`PacsError`, one line naming the URL.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from dicomweb_client import DICOMwebClient
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from medue.errors import InputError
from medue.io.atomic import commit_staged, temporary_sibling
from medue.io.dicom.files import read_dataset, read_header, series_files

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0  # seconds to connect, and between two reads of one answer
STORE_BATCH_BYTES = 64 * 2**20  # files per STOW-RS request: up to this many bytes together
_AS_STORED = (("application/dicom", "*"),)  # WADO-RS: the stored transfer syntax, no transcoding


class PacsError(InputError):
    """A PACS that cannot be reached, answers with an error, or refuses a request (one line)."""


@dataclass(frozen=True)
class SeriesRef:
    """One series in a PACS, as QIDO-RS lists it (no patient data).

    ``instances`` is Number of Series Related Instances, or None when the PACS does not give it.
    """

    study_instance_uid: str
    series_instance_uid: str
    modality: str
    series_description: str
    instances: int | None


@dataclass(frozen=True)
class StoredSeries:
    """A series stored with STOW-RS: its UIDs and how many instances the PACS now holds of it."""

    study_instance_uid: str
    series_instance_uid: str
    instances: int


def list_series(
    url: str, modality: str | None = None, *, timeout: float = DEFAULT_TIMEOUT
) -> list[SeriesRef]:
    """Every series of the PACS at ``url`` (its DICOMweb root), or those of one ``modality``.

    QIDO-RS ``/series`` (PS3.18 section 10.6), all result pages. ``modality`` is a DICOM code
    ("CT", "MR"). Raises :class:`PacsError` when the PACS cannot be reached or answers an error.
    """
    filters = {"Modality": modality} if modality else None
    with _session(url, timeout, "listing series") as client:
        found = _all_pages(
            url,
            client.search_for_series,
            fields=["SeriesDescription", "NumberOfSeriesRelatedInstances"],
            search_filters=filters,
        )
    refs = [_series_ref(item) for item in found]
    log.info("%s: %d series%s", url, len(refs), f" of modality {modality}" if modality else "")
    return refs


def find_series(
    url: str, series_instance_uid: str, *, timeout: float = DEFAULT_TIMEOUT
) -> SeriesRef:
    """The series of this Series Instance UID in the PACS at ``url`` (QIDO-RS, PS3.18 10.6).

    Raises :class:`PacsError` when the PACS holds no such series.
    """
    with _session(url, timeout, "looking up a series") as client:
        found = client.search_for_series(
            fields=["SeriesDescription", "NumberOfSeriesRelatedInstances"],
            search_filters={"SeriesInstanceUID": series_instance_uid},
        )
    if not found:
        raise PacsError(url, f"no series {series_instance_uid} in this PACS")
    return _series_ref(_dicom_json(url, found)[0])


def retrieve_series(
    url: str, ref: SeriesRef, folder: str | Path, *, timeout: float = DEFAULT_TIMEOUT
) -> Path:
    """Fetch the series ``ref`` into ``folder`` (one ``<SOP Instance UID>.dcm`` per instance).

    WADO-RS (PS3.18 section 10.4) with the instances as stored. The files are written into a
    hidden folder beside ``folder`` and renamed onto it only once every instance QIDO-RS lists
    (PS3.18 10.6) has arrived, so ``folder`` never holds half a series. A ``folder`` that
    already holds exactly those instances (same count, same SOP Instance UIDs) is kept as it is
    (nothing downloaded); an incomplete or outdated copy of the same series is replaced; a
    folder holding anything else is refused. Returns ``folder``.

    Raises :class:`PacsError` for an unknown series, an unreachable PACS, an HTTP error or an
    incomplete answer; :class:`~medue.errors.InputError` for a ``folder`` holding other files.
    """
    folder = Path(folder)
    study, series = ref.study_instance_uid, ref.series_instance_uid
    with _session(url, timeout, f"retrieving series {series}") as client:
        expected = _instance_uids(client, study, series)
        if not expected:
            raise PacsError(url, f"no series {series} in this PACS (study {study})")
        if folder.exists() and _holds_copy_of(folder, series, expected):
            log.info("%s: complete copy of series %s already there", folder, series)
            return folder
        stage = temporary_sibling(folder)
        stage.mkdir(parents=True)
        try:
            _download(client, ref, expected, stage)
            commit_staged(stage, folder)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    log.info("%s: retrieved %d instances of series %s", folder, len(expected), series)
    return folder


def store_series(
    url: str,
    folder: str | Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    batch_bytes: int = STORE_BATCH_BYTES,
) -> StoredSeries:
    """Add the derived series in ``folder`` (a protected copy) to the PACS at ``url``.

    STOW-RS (PS3.18 section 10.5), in requests of at most ``batch_bytes`` bytes of files. Before
    sending anything it refuses (:class:`PacsError`) a folder whose images are not all DERIVED
    (Image Type value 1, PS3.3 C.7.6.1.1.2), or whose Series Instance UID the PACS already holds:
    an original, or a copy stored before, is never overwritten or added to. Afterwards the PACS
    is asked (QIDO-RS) how many instances of the new series it holds; fewer than sent is an
    error. A failure halfway leaves the instances already stored in the PACS (DICOMweb has no
    transaction); protect again for new UIDs before retrying.
    """
    folder = Path(folder)
    files, _skipped = series_files(folder)
    for path, header in files:
        first = _first_value(header.get("ImageType"))
        if first.upper() != "DERIVED":
            raise PacsError(
                folder,
                f"{path.name} is not a derived image (Image Type {first or 'missing'}): only "
                "protected copies (DERIVED, new UIDs) are stored to a PACS, never originals",
            )
    header = files[0][1]
    study, series = str(header.StudyInstanceUID), str(header.SeriesInstanceUID)
    with _session(url, timeout, f"storing series {series}") as client:
        if client.search_for_series(search_filters={"SeriesInstanceUID": series}):
            raise PacsError(
                folder,
                f"series {series} is already in the PACS at {url}; storing would add to an "
                "existing series (protect again for a new series)",
            )
        for batch in _batches([path for path, _ in files], batch_bytes):
            answer = client.store_instances([read_dataset(path) for path in batch])
            _check_stored(url, answer, len(batch))
        held = len(_instance_uids(client, study, series))
    if held != len(files):
        raise PacsError(url, f"holds {held} of the {len(files)} instances sent of series {series}")
    log.info("%s: stored %d instances as series %s", url, held, series)
    return StoredSeries(study, series, held)


@contextmanager
def _session(url: str, timeout: float, doing: str) -> Iterator[DICOMwebClient]:
    """A client whose every request has ``timeout``; request failures become PacsError."""
    try:
        client = DICOMwebClient(url, session=_TimeoutSession(timeout))
    except ValueError as error:
        raise PacsError(url, f"not a DICOMweb URL ({error})") from None
    client.set_http_retry_params(retry=False)
    try:
        yield client
    except requests.HTTPError as error:
        response = error.response
        raise PacsError(
            url,
            f"{doing}: HTTP {response.status_code} {response.reason} "
            f"for {response.request.method} {response.url}",
        ) from None
    except requests.Timeout:
        raise PacsError(url, f"{doing}: no answer within {timeout:g} s") from None
    except requests.ConnectionError:
        raise PacsError(
            url, f"{doing}: cannot connect (is the PACS running, and is this its DICOMweb URL?)"
        ) from None
    except requests.RequestException as error:
        raise PacsError(url, f"{doing}: {type(error).__name__}: {error}") from None


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout (``dicomweb-client`` sets none of its own)."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def _dicom_json(url: str, found: list) -> list[dict]:
    """``found`` if it is a list of DICOM JSON objects (PS3.18 annex F); PacsError if not (a URL
    to some other JSON API, such as Orthanc's own REST root, answers lists of ids)."""
    if not all(isinstance(item, dict) for item in found):
        raise PacsError(url, "answer is not DICOM JSON: is this the server's DICOMweb root?")
    return found


def _all_pages(url: str, search: Callable[..., list], **query) -> list[dict]:
    """Every result of a QIDO-RS search, page after page (``offset``, PS3.18 section 8.3.4).

    ``dicomweb-client``'s own paging loops for ever on a server that ignores ``offset``; here a
    page starting with the first page's first result ends the search.
    """
    found: list[dict] = []
    while True:
        page = _dicom_json(url, search(offset=len(found), **query))
        if not page or (found and page[0] == found[0]):
            return found
        found.extend(page)


def _series_ref(item: dict) -> SeriesRef:
    count = _value(item, "NumberOfSeriesRelatedInstances")
    return SeriesRef(
        study_instance_uid=str(_value(item, "StudyInstanceUID") or ""),
        series_instance_uid=str(_value(item, "SeriesInstanceUID") or ""),
        modality=str(_value(item, "Modality") or ""),
        series_description=str(_value(item, "SeriesDescription") or ""),
        instances=int(count) if count not in (None, "") else None,
    )


def _value(item: dict, keyword: str):
    """The first value of ``keyword`` in a DICOM JSON object (PS3.18 annex F), or None."""
    values = item.get(f"{tag_for_keyword(keyword):08X}", {}).get("Value") or [None]
    return values[0]


def _first_value(value) -> str:
    """Value 1 of a code string element (pydicom gives a str for one value, a list for more)."""
    if value is None or isinstance(value, str):
        return str(value or "")
    return str(value[0]) if len(value) else ""


def _instance_uids(client: DICOMwebClient, study: str, series: str) -> set[str]:
    """SOP Instance UIDs of one series (QIDO-RS); empty when the PACS does not know it."""
    try:
        found = _all_pages(
            client.base_url,
            client.search_for_instances,
            study_instance_uid=study,
            series_instance_uid=series,
            fields=["SOPInstanceUID"],
        )
    except requests.HTTPError as error:
        if error.response is not None and error.response.status_code == 404:
            return set()
        raise
    return {str(_value(item, "SOPInstanceUID")) for item in found}


def _download(client: DICOMwebClient, ref: SeriesRef, expected: set[str], stage: Path) -> None:
    """Write the instances of ``ref`` into ``stage``; PacsError unless exactly ``expected``."""
    series = ref.series_instance_uid
    received = set()
    for dataset in client.iter_series(ref.study_instance_uid, series, media_types=_AS_STORED):
        uid = str(dataset.SOPInstanceUID)
        if str(dataset.get("SeriesInstanceUID", "")) != series or uid not in expected:
            raise PacsError(client.base_url, f"sent instance {uid}, not one of series {series}")
        dataset.save_as(str(stage / f"{uid}.dcm"), write_like_original=False)
        received.add(uid)
    if received != expected:
        raise PacsError(
            client.base_url,
            f"sent {len(received)} of the {len(expected)} instances of series {series}",
        )


def _holds_copy_of(folder: Path, series: str, expected: set[str]) -> bool:
    """True if ``folder`` holds exactly the instances ``expected`` of ``series``; False if it
    holds an older copy of that series (to be replaced); InputError if it holds anything else."""
    if folder.is_file():
        raise InputError(folder, "a file of this name exists where the series folder would go")
    found = set()
    for path in folder.iterdir():
        header = read_header(path)[0] if path.is_file() else None
        if header is None or str(header.get("SeriesInstanceUID", "")) != series:
            raise InputError(
                folder, f"exists and holds {path.name}, not part of series {series}; choose "
                "another folder"
            )  # fmt: skip
        found.add(str(header.get("SOPInstanceUID", "")))
    return found == expected and len(list(folder.iterdir())) == len(expected)


def _batches(paths: list[Path], limit: int) -> Iterator[list[Path]]:
    """Consecutive groups of files of at most ``limit`` bytes together (at least one file)."""
    batch: list[Path] = []
    size = 0
    for path in paths:
        length = path.stat().st_size
        if batch and size + length > limit:
            yield batch
            batch, size = [], 0
        batch.append(path)
        size += length
    if batch:
        yield batch


def _check_stored(url: str, answer: Dataset, sent: int) -> None:
    """Raise if the STOW-RS answer (PS3.18 10.5.3) lists failed instances or fewer stored."""
    failed = answer.get("FailedSOPSequence") or []
    stored = answer.get("ReferencedSOPSequence") or []
    if failed or len(stored) != sent:
        reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
        why = f" (Failure Reason {', '.join(reasons)})" if reasons else ""
        raise PacsError(url, f"stored {len(stored)} of {sent} instances{why}")

"""The MedUE server as seen from 3D Slicer: connect, log in, list, preview, protect, download.

The server is ``medue serve``: MONAI Label 0.8.5 with MedUE's app (a preview task
``protect_<method>`` per method, listed in ``/info/``) and MedUE's ``/protect`` job endpoints.
Every method raises a :class:`MedUEProtectLib.errors.MedUEError` with one clear line on failure
(see :mod:`MedUEProtectLib.transport` for which answer becomes which error). Intensities are in
the image's native units (HU for CT); voxel boxes are ``[z0, y0, x0, z1, y1, x1]``, ends
exclusive, in the image file's own voxel order.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from MedUEProtectLib.errors import AuthRefused, BadUrl, ImageMissing, RequestRefused
from MedUEProtectLib.jobs import JobRequest, JobStatus
from MedUEProtectLib.preview import PreviewResult, PreviewSettings, split_multipart
from MedUEProtectLib.transport import CONNECT_TIMEOUT, Http, dumps

PREVIEW_TIMEOUT = 600.0  # seconds: a large CT preview (or a cold server) may take minutes
PREFIX = "protect_"


@dataclass
class ServerInfo:
    """What the panel shows after a connection check."""

    url: str
    name: str  # the MONAI Label app's name ("MedUE")
    dataset: str  # the studies folder's dataset name (MONAI Label's datastore name)
    images: int  # images in the dataset
    labelled: int  # of which have a final label map
    methods: list[str]  # segmentation methods that can preview and protect
    default_method: str
    presets: dict[str, str] = field(default_factory=dict)  # name -> what it means
    auth: bool = False  # the server's auth is on
    user: str | None = None  # who is logged in (auth on)
    protect_refused: str | None = None  # why this account cannot start jobs (None: it can)

    def summary(self) -> str:
        who = f", logged in as {self.user}" if self.user else ""
        return (
            f"{self.name} at {self.url}: dataset {self.dataset!r}, {self.images} images "
            f"({self.labelled} with labels){who}"
        )


@dataclass(frozen=True)
class ImageEntry:
    """One image of the server's dataset."""

    id: str
    labelled: bool  # has a final label map on the server (usable as the ROI)
    file: str = ""  # its file name in the studies folder


class MedUEClient:
    """A client of one MedUE server at ``url`` (``http://host:port``).

    ``timeout`` is the read timeout in seconds of ordinary calls; previews get
    ``preview_timeout``. Credentials given to :meth:`login` are kept in memory only, to log in
    again once when the server's token expires.
    """

    def __init__(
        self, url: str, timeout: float = 60.0, preview_timeout: float = PREVIEW_TIMEOUT
    ) -> None:
        self.http = Http(url, (CONNECT_TIMEOUT, timeout))
        self.preview_timeout = preview_timeout
        self.user: str | None = None
        self._credentials: tuple[str, str] | None = None

    @property
    def url(self) -> str:
        return self.http.url

    # -- connection -------------------------------------------------------------------------
    def auth_enabled(self) -> bool:
        """Whether the server's auth is on (MONAI Label mounts ``/auth/`` only then)."""
        response = self.http._send("GET", "/auth/", "check its login settings", None)
        if response.status_code == 404:
            return False
        try:
            return bool(response.json().get("enabled"))
        except (ValueError, AttributeError):
            return False

    def login(self, username: str, password: str) -> str:
        """Log in through the server (``POST /auth/token``, which asks its Keycloak realm);
        returns the user name. AuthRefused for wrong credentials; RequestRefused when the
        server's auth is off."""
        if not username or not password:
            raise AuthRefused("enter both a user name and a password to log in")
        response = self.http._send(
            "POST", "/auth/token", "log in", None, data={"username": username, "password": password}
        )
        if response.status_code == 404:
            raise RequestRefused("this server's auth is off: connect without a login")
        token = None
        if response.status_code == 200:
            try:
                token = response.json().get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not token:
            raise AuthRefused(
                f"login refused for {username!r}: wrong user name or password (or the server "
                "cannot reach its identity provider)"
            )
        self.http.token, self.user = token, username
        self._credentials = (username, password)
        self.http.relogin = self._relogin
        return username

    def _relogin(self) -> None:
        self.http.token = None
        if self._credentials is not None:
            try:
                self.login(*self._credentials)
            except AuthRefused:
                self._credentials = None

    def logout(self) -> None:
        self.http.token, self.user, self._credentials, self.http.relogin = None, None, None, None

    def connect(self) -> ServerInfo:
        """Check the server: it answers, is MedUE's, and this login (if any) is accepted.

        ServerDown, BadUrl (answers but is not MedUE's server), AuthRequired (auth on, no login).
        """
        try:
            info = self.http.json("GET", "/info/", "show its information")
        except RequestRefused as refused:
            raise BadUrl(
                f"{self.url} answers, but not as a MedUE server ({refused}): check the address "
                "(http://HOST:PORT, nothing after the port)"
            ) from None
        models = info.get("models")
        if not isinstance(models, dict):
            raise BadUrl(f"{self.url} is not a MONAI Label server (its /info/ lists no models)")
        previews = [name[len(PREFIX) :] for name in models if name.startswith(PREFIX)]
        if not previews:
            raise BadUrl(
                f"{self.url} is a MONAI Label server without MedUE's app: start it with "
                "`medue serve --studies FOLDER --export FOLDER`"
            )
        store = info.get("datastore") or {}
        listing = self.http.json("GET", "/datastore/", "list its dataset", params={"output": "all"})
        objects = listing.get("objects") or {}
        labelled = sum(1 for item in objects.values() if "final" in (item.get("labels") or {}))
        server = ServerInfo(
            url=self.url,
            name=str(info.get("name") or "MONAI Label"),
            dataset=str(listing.get("name") or "studies"),
            images=int(store.get("total", len(objects))),
            labelled=labelled,
            methods=previews,
            default_method=previews[0],
            auth=self.http.token is not None or self.auth_enabled(),
            user=self.user,
        )
        self._add_protect_settings(server)
        return server

    def _add_protect_settings(self, server: ServerInfo) -> None:
        """Methods and presets from ``/protect/methods`` (admin role when auth is on)."""
        try:
            methods = self.http.json("GET", "/protect/methods", "start protect jobs")
        except AuthRefused as refused:
            server.protect_refused = str(refused)
            server.presets = {"balanced": "the server's default"}
            return
        except RequestRefused:
            raise BadUrl(
                f"{self.url} is a MONAI Label server without MedUE's /protect endpoints: start "
                "it with `medue serve`"
            ) from None
        classification = set(methods.get("classification") or ())
        server.methods = [m for m in methods.get("methods", server.methods) if m not in
                          classification and m in server.methods]  # fmt: skip
        default = methods.get("default")
        server.default_method = default if default in server.methods else server.methods[0]
        server.presets = dict(methods.get("presets") or {})

    # -- the dataset ------------------------------------------------------------------------
    def images(self) -> list[ImageEntry]:
        """The dataset's images, by id, with whether each has a label map."""
        listing = self.http.json("GET", "/datastore/", "list its dataset", params={"output": "all"})
        entries = []
        for image_id, item in sorted((listing.get("objects") or {}).items()):
            labels = item.get("labels") or {}
            name = ((item.get("image") or {}).get("info") or {}).get("name", "")
            entries.append(ImageEntry(image_id, "final" in labels, name))
        return entries

    def download_image(self, image_id: str, folder: str | Path) -> Path:
        """The original image file (as stored on the server) into ``folder``; its path."""
        response = self.http.send(
            "GET", "/datastore/image", f"send image {image_id!r}", missing=_absent(image_id),
            params={"image": image_id}, stream=True,
        )  # fmt: skip
        name = _filename(response.headers.get("content-disposition", "")) or f"{image_id}.nii.gz"
        return _save(response, Path(folder) / _plain(name))

    def download_case(self, image_id: str, folder: str | Path) -> tuple[str, Path, Path | None]:
        """``(image_id, image path, label map path or None)``: what "Load" puts in the scene."""
        image = self.download_image(image_id, folder)
        try:
            labels = self.download_labels(image_id, folder)
        except ImageMissing:
            labels = None
        return image_id, image, labels

    def download_labels(self, image_id: str, folder: str | Path) -> Path:
        """The image's final label map on the server (its ROI) into ``folder``; its path."""
        response = self.http.send(
            "GET", "/datastore/label", f"send the labels of {image_id!r}", stream=True,
            missing=f"image {image_id!r} has no label map on this server",
            params={"label": image_id, "tag": "final"},
        )  # fmt: skip
        name = _filename(response.headers.get("content-disposition", "")) or f"{image_id}.nii.gz"
        return _save(response, Path(folder) / f"labels-{_plain(name)}")

    # -- previews ---------------------------------------------------------------------------
    def preview(self, settings: PreviewSettings, folder: str | Path | None = None) -> PreviewResult:
        """The image protected as a job would protect it, written to ``folder`` (a new temporary
        folder by default) as float32 NIfTI on the image's grid, with PSNR, SSIM, max change and
        the budget. By image id, or by uploading ``settings.upload`` (a file; needs a box)."""
        params = {"output": "all"}
        files = None
        if settings.image_id:
            params["image"] = settings.image_id
        elif settings.upload:
            upload = Path(settings.upload)
            files = {"file": (upload.name, upload.open("rb"), "application/octet-stream")}
        else:
            raise RequestRefused("choose an image to preview (a server image or a file)")
        try:
            response = self.http.send(
                "POST", f"/infer/{PREFIX}{settings.method}", f"preview {settings.method}",
                missing=_absent(settings.image_id), params=params, files=files,
                data={"params": dumps(settings.params())},
                timeout=(CONNECT_TIMEOUT, self.preview_timeout),
            )  # fmt: skip
        finally:
            if files:
                files["file"][1].close()
        numbers, image = split_multipart(response)
        out = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="medue-preview-"))
        out.mkdir(parents=True, exist_ok=True)
        stem = _plain(settings.image_id or _stem(Path(settings.upload).name))
        kind = "change" if settings.perturbation else "protected"
        suffix = ".nii.gz" if image[:2] == b"\x1f\x8b" else ".nii"  # gzip magic number
        path = out / f"{stem}-{settings.method}-{kind}{suffix}"
        path.write_bytes(image)
        method = numbers.get("method", settings.method)
        metrics, budget = numbers.get("metrics", {}), numbers.get("budget", {})
        return PreviewResult(path, metrics, budget, method, bool(numbers.get("fitted")))

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, request: JobRequest) -> JobStatus:
        """Start a protect job over the dataset; RequestRefused if one is running (409)."""
        try:
            answer = self.http.json("POST", "/protect/jobs", "start a protect job",
                                    json=request.body())  # fmt: skip
        except RequestRefused as refused:
            if "unknown image id" in str(refused):
                missing = str(refused).rsplit(": ", 1)[-1]
                raise ImageMissing(
                    f"{_absent(missing)} (refresh the list and choose again)"
                ) from None
            raise
        return JobStatus.from_json(answer)

    def job(self, job_id: str, timeout: float | None = None) -> JobStatus:
        """The job's status; ``timeout`` (s) bounds the wait for the answer (a panel's poll)."""
        limit = (CONNECT_TIMEOUT, timeout) if timeout else None
        answer = self.http.json("GET", f"/protect/jobs/{job_id}", f"show job {job_id}",
                                timeout=limit)  # fmt: skip
        return JobStatus.from_json(answer)

    def jobs(self) -> list[JobStatus]:
        """Every job the server knows, oldest first."""
        answer = self.http.json("GET", "/protect/jobs", "list protect jobs")
        return [JobStatus.from_json(item) for item in answer.get("jobs", [])]

    def releases(self) -> list[str]:
        """Names of the finished releases (export folders), newest first."""
        names = [job.export for job in reversed(self.jobs()) if job.state == "done"]
        return list(dict.fromkeys(names))

    def release_job(self, export: str) -> JobStatus:
        """The newest finished job that wrote release ``export``; RequestRefused if none did."""
        for job in reversed(self.jobs()):
            if job.export == export and job.state == "done":
                return job
        raise RequestRefused(f"no finished release named {export!r} on this server")

    def cancel(self, job_id: str) -> JobStatus:
        """Ask the job to stop (between two images; nothing is left half-written)."""
        answer = self.http.json("DELETE", f"/protect/jobs/{job_id}", f"cancel job {job_id}")
        return JobStatus.from_json(answer)

    def manifest(self, job_id: str) -> dict:
        """The finished job's manifest (settings, seeds, per-image metrics, checksums)."""
        return self.http.json("GET", f"/protect/jobs/{job_id}/report", "send the job's report",
                              params={"format": "json"})  # fmt: skip

    def download_result(self, image_id: str, folder: str | Path, export: str | None = None) -> Path:
        """The protected copy of ``image_id`` (release ``export``, default the newest) into
        ``folder``: the file itself, or a DICOM series unpacked into ``folder/<image_id>/``."""
        params = {"image": image_id}
        if export:
            params["export"] = export
        response = self.http.send(
            "GET", "/protect/result", f"send the protected {image_id!r}", params=params,
            missing=f"no protected copy of {image_id!r} on this server", stream=True,
        )  # fmt: skip
        name = _plain(_filename(response.headers.get("content-disposition", "")) or image_id)
        target = Path(folder) / name
        if response.headers.get("content-type", "").startswith("application/zip"):
            archive = _save(response, Path(tempfile.mkdtemp(prefix="medue-zip-")) / name)
            series = Path(folder) / _plain(image_id)
            try:
                _unzip(archive, series)
            finally:
                shutil.rmtree(archive.parent, ignore_errors=True)
            return series
        return _save(response, target)


def _save(response, path: Path) -> Path:
    """Stream ``response`` into ``path`` (written beside it first, then renamed in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.part")
    try:
        with partial.open("wb") as stream:
            for chunk in response.iter_content(1 << 20):
                stream.write(chunk)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        response.close()
    return path


def _unzip(archive: Path, folder: Path) -> None:
    staged = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(staged, ignore_errors=True)
    with zipfile.ZipFile(archive) as bundle:
        for member in bundle.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise BadUrl(f"the server sent an unsafe archive entry {member!r}")
        bundle.extractall(staged)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staged, folder)


def _absent(image_id: str | None) -> str:
    return f"image {image_id!r} is not on this server"


def _filename(disposition: str) -> str:
    found = re.search(r'filename="?([^";]+)"?', disposition)
    return found.group(1) if found else ""


def _plain(name: str) -> str:
    """A file name that stays inside its folder."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", Path(name).name).lstrip(".") or "image"


def _stem(name: str) -> str:
    for suffix in (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem

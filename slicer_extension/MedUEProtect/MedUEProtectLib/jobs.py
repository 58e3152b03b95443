"""Protect jobs from the panel: the request, the status the server reports, and what the
panel's timer does with it (one short poll per tick, one download per tick when exporting).

Nothing here blocks for longer than one HTTP request (each bounded by the client's timeout), so
a ``qt.QTimer`` calling :meth:`JobMonitor.poll` or :meth:`ExportTask.step` keeps Slicer
responsive.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from MedUEProtectLib.errors import JobFailed, MedUEError, RequestRefused, ServerDown

TERMINAL = ("done", "failed", "cancelled")
PHASES = {
    "queued": "waiting for a worker",
    "waiting": "waiting for a worker",
    "starting": "starting the worker",
    "retrieve": "fetching series from the PACS",
    "prepare": "reading the images and choosing each ε",
    "fit": "fitting the method",
    "apply": "writing the protected copies",
    "store": "storing series back in the PACS",
    "check": "checking the release with a victim model",
    "done": "finished",
}


@dataclass
class JobRequest:
    """The body of ``POST /protect/jobs``. ``images``: None for the whole dataset; ``epsilon``:
    max change per voxel in native units (HU on CT), overrides ``preset``; ``roi``: None for the
    dataset's label maps, else :func:`MedUEProtectLib.roi.labels_roi` or ``box_roi``;
    ``export``: the release's folder name on the server (default ``<method>-<preset>``)."""

    method: str | None = None
    images: list[str] | None = None
    preset: str | None = None
    epsilon: float | None = None
    roi: dict | None = None
    export: str | None = None
    seed: int | None = None

    def body(self) -> dict:
        body: dict = {}
        if self.method:
            body["method"] = self.method
        if self.images is not None:
            if not self.images:
                raise RequestRefused("choose at least one image to protect")
            body["images"] = list(self.images)
        if self.epsilon is not None:
            if not self.epsilon > 0:
                raise RequestRefused(f"epsilon must be a positive number, got {self.epsilon:g}")
            body["epsilon"] = float(self.epsilon)
        elif self.preset:
            body["preset"] = self.preset
        for name in ("roi", "export", "seed"):
            value = getattr(self, name)
            if value is not None and value != "":
                body[name] = value
        return body


@dataclass
class JobStatus:
    """``GET /protect/jobs/{id}``: ``state`` (queued, running, done, failed, cancelled),
    ``phase`` with ``done``/``total`` in it, ``eta_seconds`` for this phase, and per image
    ``{"id", "status": pending|done|failed, "psnr_db", "ssim", "max_abs_change" | "error"}``."""

    id: str
    state: str
    phase: str = "queued"
    done: int = 0
    total: int = 0
    eta_seconds: float | None = None
    export: str = ""
    error: str | None = None
    images: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    cancel_requested: bool = False

    @classmethod
    def from_json(cls, answer: dict) -> JobStatus:
        try:
            return cls(
                id=str(answer["id"]),
                state=str(answer["state"]),
                phase=str(answer.get("phase") or "queued"),
                done=int(answer.get("done") or 0),
                total=int(answer.get("total") or 0),
                eta_seconds=answer.get("eta_seconds"),
                export=str(answer.get("export") or ""),
                error=answer.get("error"),
                images=list(answer.get("images") or []),
                metrics=dict(answer.get("metrics") or {}),
                cancel_requested=bool(answer.get("cancel_requested")),
            )
        except (KeyError, TypeError, ValueError):
            raise MedUEError("the server's job status is not what MedUE sends") from None

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def ids(self, status: str) -> list[str]:
        """Ids of the images whose status is ``status`` (pending, done, failed)."""
        return [str(item["id"]) for item in self.images if item.get("status") == status]

    def failures(self) -> str:
        """``id: problem; ...`` for the images the job could not protect."""
        failed = [i for i in self.images if i.get("status") == "failed"]
        return "; ".join(f"{i['id']}: {i.get('error') or 'failed'}" for i in failed)

    def check(self) -> str | None:
        """Raise JobFailed if the job failed or protected none of its images; a warning line if
        it protected only some; None otherwise."""
        failed, done = self.ids("failed"), self.ids("done")
        if self.state in ("done", "failed") and failed and not done:  # each image's own problem
            raise JobFailed(
                f"protect job {self.id} protected none of its {len(failed)} image(s): "
                f"{self.failures()}"
            )
        if self.state == "failed":
            raise JobFailed(f"protect job {self.id} failed: {self.error or 'no reason given'}")
        if failed:
            return (
                f"{len(failed)} of {len(self.images)} images were not protected: {self.failures()}"
            )
        return None


@dataclass
class Progress:
    """What the panel shows after one poll."""

    status: JobStatus | None
    fraction: float  # of the current phase, 0..1
    text: str
    finished: bool = False
    warning: str | None = None

    @property
    def percent(self) -> int:
        return int(round(100 * min(1.0, max(0.0, self.fraction))))


def describe(status: JobStatus) -> str:
    """``writing the protected copies: 3 of 5, about 12 s left`` and the like."""
    words = PHASES.get(status.phase, status.phase)
    if status.state == "cancelled":
        return f"cancelled ({status.done} of {status.total} done in the last step)"
    if status.state == "done":
        protected = len(status.ids("done"))
        return f"finished: {protected} of {len(status.images)} images protected"
    text = words + (f": {status.done} of {status.total}" if status.total else "")
    if status.eta_seconds is not None and status.done < status.total:
        eta = float(status.eta_seconds)
        text += ", under a second left" if eta < 1 else f", about {format_seconds(eta)} left"
    if status.cancel_requested:
        text += " (cancelling)"
    return text


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(float(seconds))))
    if seconds < 90:
        return f"{seconds} s"
    return f"{seconds // 60} min {seconds % 60:02d} s"


class JobMonitor:
    """Follows one job: :meth:`poll` once per timer tick, :meth:`cancel` on demand.

    A server that stops answering for a while (restarting: jobs resume) does not end the
    watch: up to ``patience`` seconds of ServerDown are reported as progress text, then raised.
    One poll waits at most ``timeout`` seconds for an answer (it runs on the panel's timer).
    """

    def __init__(self, client, job_id: str, patience: float = 120.0, timeout: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.client, self.job_id, self.patience, self.clock = client, job_id, patience, clock
        self.timeout = timeout  # seconds one poll may wait for the server
        self.status: JobStatus | None = None
        self._silent_since: float | None = None

    def poll(self) -> Progress:
        """One status request. Raises JobFailed when the job failed, ServerDown when the server
        has been silent for longer than ``patience``."""
        try:
            status = self.client.job(self.job_id, timeout=self.timeout)
        except ServerDown as down:
            now = self.clock()
            self._silent_since = self._silent_since if self._silent_since is not None else now
            if now - self._silent_since > self.patience:
                raise
            return Progress(self.status, self._fraction(self.status),
                            f"the server does not answer; still trying ({down})")  # fmt: skip
        self._silent_since = None
        self.status = status
        warning = status.check() if status.finished else None  # raises JobFailed
        return Progress(status, self._fraction(status), describe(status), status.finished, warning)

    def cancel(self) -> JobStatus:
        self.status = self.client.cancel(self.job_id)
        return self.status

    @staticmethod
    def _fraction(status: JobStatus | None) -> float:
        if status is None:
            return 0.0
        if status.state == "done":
            return 1.0
        return status.done / status.total if status.total else 0.0


class ExportTask:
    """Download protected copies one per :meth:`step`: ``images`` of release ``export`` into
    ``folder``. An image the release lacks is noted in ``problems`` and skipped."""

    def __init__(self, client, images: list[str], folder: str | Path,
                 export: str | None = None) -> None:  # fmt: skip
        self.client, self.images, self.export = client, list(images), export
        self.folder = Path(folder)
        self.paths: list[Path] = []
        self.problems: list[str] = []
        self.index = 0

    @classmethod
    def for_job(cls, client, status: JobStatus, folder: str | Path) -> ExportTask:
        """The copies a finished job wrote."""
        if status.state != "done":
            raise RequestRefused(f"job {status.id} is {status.state}: nothing to export yet")
        return cls(client, status.ids("done"), folder, status.export or None)

    @property
    def finished(self) -> bool:
        return self.index >= len(self.images)

    def step(self) -> Path | None:
        """Download the next image; its path (None if it was skipped or all are done)."""
        if self.finished:
            return None
        image_id = self.images[self.index]
        self.index += 1
        try:
            path = self.client.download_result(image_id, self.folder, self.export)
        except MedUEError as error:
            if isinstance(error, ServerDown):
                self.index -= 1
                raise
            self.problems.append(f"{image_id}: {error}")
            return None
        self.paths.append(path)
        return path

    def run(self) -> list[Path]:
        """Every remaining step at once (scripts; the panel steps from its timer)."""
        while not self.finished:
            self.step()
        return self.paths

    def describe(self) -> str:
        text = f"exported {len(self.paths)} of {len(self.images)} to {self.folder}"
        if self.problems:
            text += f"; not exported: {'; '.join(self.problems)}"
        return text

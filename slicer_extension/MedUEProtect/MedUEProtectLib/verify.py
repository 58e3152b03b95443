"""Proof of use from the panel: upload a suspect model to ``POST /protect/verify`` and bring the
report home.

The server ranks the suspect's answer to the release's secret key against its answers to decoy
keys; p <= 0.01 means detected, with at most 1 % false positives whatever the model (the
server's ``medue.verify``). The key never leaves the server. Plain Python, no Slicer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from MedUEProtectLib.errors import RequestRefused
from MedUEProtectLib.transport import CONNECT_TIMEOUT

VERIFY_TIMEOUT = 900.0
"""Seconds to wait for a verdict: 200 keys x 64 probes through a large network on a CPU."""


@dataclass(frozen=True)
class VerifyOutcome:
    """The server's verdict on one suspect, and where its report is."""

    suspect: str
    release: str
    detected: bool
    p_value: float
    alpha: float
    probes: int
    decoys: int
    report: str  # the report's path on the server (/protect/verify/reports/...)
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, answer: dict) -> VerifyOutcome:
        classes = answer.get("classes") or {}
        first = next(iter(classes.values()), {})
        return cls(
            suspect=answer.get("suspect", "?"),
            release=answer.get("release", "?"),
            detected=bool(answer.get("detected")),
            p_value=float(answer.get("p_value", 1.0)),
            alpha=float(answer.get("alpha", 0.01)),
            probes=int(answer.get("probes", 0)),
            decoys=int(first.get("decoys", 0)),
            report=answer.get("report", ""),
            warnings=tuple(answer.get("warnings", ())),
        )

    def summary(self) -> str:
        """Two lines for a person: the decision and what it rests on."""
        if self.detected:
            decision = (f"{self.suspect}: DETECTED — it answers to release {self.release!r}'s key "
                        f"(p = {self.p_value:.3g} ≤ {self.alpha:g})")  # fmt: skip
        else:
            decision = (f"{self.suspect}: not detected (p = {self.p_value:.3g} > {self.alpha:g});"
                        " this does not prove it never saw the release")  # fmt: skip
        basis = f"{self.probes} probe images, {self.decoys} decoy keys"
        return "\n".join([decision, basis, *(f"⚠ {w}" for w in self.warnings)])


def model_upload(path: str | Path) -> Path:
    """The suspect's file, checked before anything is sent; RequestRefused if unusable."""
    path = Path(str(path or "")).expanduser()
    if not str(path) or not path.is_file():
        raise RequestRefused(f"choose the suspect model's file (got {str(path)!r})")
    return path


def report_files(page: str) -> list[str]:
    """The figure files a verify.html page shows (plain names beside it)."""
    names = re.findall(r"src='([^'/]+\.png)'", page)
    return list(dict.fromkeys(names))


def verify_model(
    client, model: str | Path, export: str | None = None, arch: str | None = None
) -> VerifyOutcome:
    """Was the model in ``model`` (TorchScript, or a state dict of ``arch``) trained on release
    ``export`` (default the newest)? ``client`` is a connected ``MedUEClient``; the server's
    verdict may take minutes. Raises a ``MedUEError`` with the server's one line otherwise."""
    path = model_upload(model)
    data = {key: value for key, value in (("export", export), ("arch", arch)) if value}
    with path.open("rb") as handle:
        answer = client.http.json(
            "POST", "/protect/verify", f"verify {path.name}", data=data,
            files={"model": (path.name, handle, "application/octet-stream")},
            timeout=(CONNECT_TIMEOUT, VERIFY_TIMEOUT),
        )  # fmt: skip
    return VerifyOutcome.from_json(answer)


def download_report(client, outcome: VerifyOutcome, folder: str | Path) -> Path:
    """The verdict's report (verify.html and its figures) into ``folder``; the page's path."""
    base = outcome.report.rsplit("/", 1)[0]
    page = client.http.send("GET", outcome.report, "send the verification report").text
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in report_files(page):
        figure = client.http.send("GET", f"{base}/{name}", "send the report's figure")
        (folder / name).write_bytes(figure.content)
    target = folder / "verify.html"
    target.write_text(page, encoding="utf-8")
    return target

"""MedUE Protect's logic, as plain Python (3.9; the standard library, numpy and requests only):
the client of a MedUE server, protect jobs and exports, previews and what is shown of them,
the mapping of Slicer's ROIs to voxel boxes, and proof of use (a suspect model verified on the
server). Nothing here imports Slicer or Qt."""

from __future__ import annotations

from MedUEProtectLib.background import BackgroundCall
from MedUEProtectLib.client import ImageEntry, MedUEClient, ServerInfo
from MedUEProtectLib.errors import (
    AuthRefused,
    AuthRequired,
    BadUrl,
    ImageMissing,
    JobFailed,
    MedUEError,
    RequestRefused,
    ServerDown,
    ServerFailed,
)
from MedUEProtectLib.jobs import ExportTask, JobMonitor, JobRequest, JobStatus, Progress
from MedUEProtectLib.preview import PreviewResult, PreviewSettings
from MedUEProtectLib.verify import VerifyOutcome, download_report, verify_model

__version__ = "0.1.0"
__all__ = [
    "AuthRefused",
    "AuthRequired",
    "BackgroundCall",
    "BadUrl",
    "ExportTask",
    "ImageEntry",
    "ImageMissing",
    "JobFailed",
    "JobMonitor",
    "JobRequest",
    "JobStatus",
    "MedUEClient",
    "MedUEError",
    "PreviewResult",
    "PreviewSettings",
    "Progress",
    "RequestRefused",
    "ServerDown",
    "ServerFailed",
    "ServerInfo",
    "VerifyOutcome",
    "download_report",
    "verify_model",
]

"""Serve a studies folder (or a PACS over DICOMweb) to MONAI Label clients such as 3D Slicer.

Starts MONAI Label (``monailabel start_server``) with MedUE's app (preview tasks, one per method)
and MedUE's ``/protect`` job endpoints. Protected copies go into the export folder (one release
folder per job's export name), never into the studies. Stop it with Ctrl-C; running jobs keep
going in their own processes and a restarted server picks them up.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from medue.errors import InputError

APP_ENV = "MEDUE_APP"


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--studies", required=True, help="studies folder or DICOMweb URL")
    parser.add_argument("--export", required=True, type=Path, help="folder for protected copies")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: "
                        "this machine only; 0.0.0.0 serves the network)")  # fmt: skip
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--conf", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
        help="extra MONAI Label app conf values",
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    command = server_command(args.studies, args.export, args.host, args.port, args.conf)
    os.execv(command[0], command)  # the server replaces this process (signals go straight to it)


def server_command(
    studies: str, export: Path, host: str, port: int, conf: list[list[str]] = ()
) -> list[str]:
    """The ``monailabel start_server`` command line for MedUE's app and job endpoints."""
    remote = studies.startswith(("http://", "https://"))
    if not remote and not Path(studies).is_dir():
        raise InputError(studies, "studies folder not found")
    if not remote:
        inside, outside = Path(studies).resolve(), export.resolve()
        if outside == inside or inside in outside.parents or outside in inside.parents:
            raise InputError(export, "the export folder must be outside the studies folder "
                             "(and must not contain it)")  # fmt: skip
    extra = [item for pair in conf for item in ("--conf", *pair)]
    return [
        sys.executable, "-m", "monailabel.main", "start_server",
        "--app", str(app_folder()),
        "--studies", studies if remote else str(Path(studies).resolve()),
        "--conf", "export", str(export.resolve()), *extra,
        "--uvicorn_app", "medue.server.app:app",
        "--host", host, "--port", str(port),
    ]  # fmt: skip


def app_folder() -> Path:
    """MedUE's MONAI Label app: ``$MEDUE_APP``, else ``medue_app/`` beside the package's source."""
    found = Path(os.environ.get(APP_ENV) or Path(__file__).resolve().parents[3] / "medue_app")
    if not (found / "main.py").is_file():
        raise InputError(found, f"MedUE's MONAI Label app (main.py) is not here; set {APP_ENV}")
    return found

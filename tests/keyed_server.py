"""A real ``medue serve`` over a small classification studies folder, with one keyed release
(``pattern-presence-keyed``) made by a server job over part of it: what ``/protect/verify`` and
the Slicer panel's "Verify a model" section are tested against. The studies' images the job left
out (16 of class ``normal``) are the probes the server uses by default."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from medue.keys import read_key_file
from medue.methods.plaid import plaid
from tests.server.running import Server
from tests.test_cli_presence import uint8_dataset

NAMES = ("normal", "pneumonia")
RELEASED = [f"{name}_{i}" for name in NAMES for i in range(4)]
RELEASE = "keyed"


class Template(torch.nn.Module):
    """A classifier whose class-1 score is the image's correlation with a template."""

    def __init__(self, template: np.ndarray) -> None:
        super().__init__()
        self.template = torch.from_numpy(template).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        torch._assert(images.shape[-2:] == self.template.shape, "expects 28 x 28 images")
        score = (images[:, 0] * self.template).sum(dim=(1, 2)) / 100.0
        return torch.stack([-score, score], dim=1)


def start_keyed_server(base: Path) -> Server:
    """The server over ``base/studies``, its keyed release finished."""
    studies = uint8_dataset(base / "studies", NAMES, per_class=20)
    running = Server(studies, base / "export", base / "server.log").start()
    job = running.post("/protect/jobs", json={"method": "pattern-presence-keyed", "epsilon": 4,
                                              "images": RELEASED, "export": RELEASE})  # fmt: skip
    assert job.status_code == 201, job.text
    assert running.wait_for(job.json()["id"])["state"] == "done"
    return running


def trained(server: Server) -> Template:
    """A suspect that learned the release's keyed plaid (the key read from the server's store)."""
    key = read_key_file(server.export / ".medue-jobs/private" / RELEASE / "key")
    return Template(plaid(key, "presence/plaid/0", (28, 28)))


def scripted(module: torch.nn.Module) -> bytes:
    """``module`` as a TorchScript file's bytes."""
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buffer)
    return buffer.getvalue()

"""The panel's "Verify a model" section driven through the thin Slicer fake, against a real server
holding a keyed release (``tests/keyed_server.py``): choose a suspect file, verify, read the
verdict, open the report (downloaded with its figures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.keyed_server import RELEASE, Template, scripted, trained
from tests.slicer.fake_slicer import CALLS, run_timers
from tests.slicer.test_widget import panel  # noqa: F401 - the fixture


def _idle(widget) -> bool:
    return widget.pending is None


def test_verify_a_suspect_then_open_its_report(panel, keyed_server, tmp_path):  # noqa: F811
    widget, _ = panel
    ui = widget.ui
    ui.serverUrlEdit.text = keyed_server.url
    ui.connectButton.click()
    assert ui.verifyReleaseCombo.currentText == RELEASE and ui.verifyButton.enabled
    assert not ui.verifyReportButton.enabled
    assert ui.verifyArchCombo.currentText.startswith("TorchScript")

    ui.verifyModelEdit.currentPath = str(tmp_path / "absent.pt")
    ui.verifyButton.click()
    run_timers(lambda: _idle(widget), timeout=30)
    assert ui.verifyStatusLabel.text.startswith("⚠ choose the suspect model's file")

    (tmp_path / "trained.pt").write_bytes(scripted(trained(keyed_server)))
    ui.verifyModelEdit.currentPath = str(tmp_path / "trained.pt")
    ui.verifyButton.click()
    assert ui.verifyStatusLabel.text.startswith("Verifying on the server")
    assert not ui.verifyButton.enabled  # one call at a time
    run_timers(lambda: _idle(widget), timeout=300)
    text = ui.verifyStatusLabel.text
    assert text.startswith("trained.pt: DETECTED") and "(p = 0.005 ≤ 0.01)" in text
    assert "16 probe images, 199 decoy keys" in text and ui.verifyReportButton.enabled

    ui.verifyReportButton.click()
    run_timers(lambda: _idle(widget), timeout=60)
    opened = [url for kind, url in CALLS if kind == "open"]
    page = Path(opened[-1].removeprefix("file://"))
    assert page.name == "verify.html" and "How the test works" in page.read_text()
    assert (page.parent / "responses_pneumonia.png").read_bytes()[:4] == b"\x89PNG"

    (tmp_path / "corrupt.pt").write_bytes(b"not a model")
    ui.verifyModelEdit.currentPath = str(tmp_path / "corrupt.pt")
    ui.verifyButton.click()
    run_timers(lambda: _idle(widget), timeout=60)
    status = ui.verifyStatusLabel.text
    assert status.startswith("⚠ ") and "corrupt.pt: is not a TorchScript model" in status
    assert "\n" not in status and not ui.verifyReportButton.enabled

    (tmp_path / "blind.pt").write_bytes(scripted(Template(np.zeros((28, 28)))))
    ui.verifyModelEdit.currentPath = str(tmp_path / "blind.pt")
    ui.verifyButton.click()
    run_timers(lambda: _idle(widget), timeout=300)
    assert ui.verifyStatusLabel.text.startswith("blind.pt: not detected (p = 1 > 0.01)")

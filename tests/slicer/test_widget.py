"""The MedUE Protect panel driven through a thin fake of Slicer: button clicks call
MedUEProtectLib against a real ``medue serve``, timers bring the answers back to the panel."""

from __future__ import annotations

import types
from collections.abc import Iterator

import numpy as np
import pytest
from MedUEProtectLib.roi import labels_in

from tests.server.running import Server
from tests.slicer import fake_slicer
from tests.slicer.fake_slicer import Node, run_timers


@pytest.fixture
def panel() -> Iterator:
    fake = fake_slicer.install()
    import MedUEProtect  # noqa: PLC0415 - only importable once the fakes are in place

    module = MedUEProtect.MedUEProtect(types.SimpleNamespace())
    assert module.parent.title == "MedUE Protect"
    widget = MedUEProtect.MedUEProtectWidget()
    widget.setup()
    yield widget, fake
    widget.cleanup()
    fake_slicer.uninstall()


def _idle(widget) -> bool:
    return widget.pending is None


def test_connect_preview_flicker_protect_cancel_export(panel, medue_server: Server, tmp_path):
    widget, slicer = panel
    ui = widget.ui
    assert not ui.previewButton.enabled and not ui.protectButton.enabled
    ui.serverUrlEdit.text = "http://127.0.0.1:9"  # nothing listens there
    ui.connectButton.click()
    assert ui.serverStatusLabel.text.startswith("⚠ cannot reach the server")
    ui.serverUrlEdit.text = medue_server.url
    ui.connectButton.click()
    assert "2 images (2 with labels)" in ui.serverStatusLabel.text
    assert (
        ui.methodCombo.currentText == "pattern-checker" and ui.presetCombo.currentText == "balanced"
    )
    assert ui.imageList.items == ["brain2  (labels)", "breast1  (labels)"]
    assert not ui.loginWidget.visible and ui.previewButton.enabled and ui.protectButton.enabled

    # load an image from the server, draw a segment on it, preview with the segment as the ROI
    ui.imageList.setCurrentRow(1)
    ui.loadImageButton.click()
    run_timers(lambda: _idle(widget), timeout=60)
    volume = ui.inputVolumeSelector.currentNode()
    assert volume.GetAttribute("MedUE.imageId") == "breast1" and volume.array.shape == (21, 120, 45)
    assert ui.epsilonSlider.suffix == " units"  # an MR image: native units, not HU
    segmentation = Node("vtkMRMLSegmentationNode", "drawn")
    segmentation.masks = {"tumour": np.zeros(volume.array.shape, bool)}
    segmentation.masks["tumour"][5:9, 40:60, 10:30] = True
    ui.roiSourceCombo.setCurrentIndex(1)
    assert ui.segmentSelector.visible and not ui.labelValuesEdit.visible
    ui.segmentSelector.node, ui.segmentSelector.segment = segmentation, "tumour"
    ui.presetCombo.setCurrentIndex(ui.presetCombo.findText("Custom ε (native units)"))
    assert ui.epsilonSlider.enabled
    ui.epsilonSlider.value = 4.0
    ui.previewButton.click()
    assert (
        ui.previewReadoutLabel.text == "Protecting on the server…" and not ui.previewButton.enabled
    )
    run_timers(lambda: _idle(widget), timeout=60)
    readout = ui.previewReadoutLabel.text
    assert "PSNR" in readout and "SSIM" in readout and "max change" in readout
    assert readout.startswith("JND ") and " at 1×, " in readout and " at 4× " in readout
    assert "ε 4 units" in readout and "×" in ui.overlayLegendLabel.text
    original, protected, overlay = (widget.nodes[k] for k in ("original", "protected", "overlay"))
    assert original is volume and protected.array.shape == volume.array.shape
    assert original.display.window == protected.display.window  # one window for both
    change = protected.array - volume.array
    assert np.array_equal(overlay.array > 0, change != 0) and overlay.cls.endswith(
        "LabelMapVolumeNode"
    )
    assert np.abs(change).max() <= 4 and not change[:, :30].any()  # the box and its band only
    assert overlay.display.colours == "vtkMRMLColorTableNode:MedUE change"

    # flicker and toggle: the background alternates, and ends on the original
    slicer.calls.clear()
    ui.flickerCheckBox.click()
    run_timers(lambda: len(slicer.calls) >= 3, timeout=10)
    ui.flickerCheckBox.click()
    shown = [call[1]["background"] for call in slicer.calls]
    assert shown[:3] == [protected, original, protected] and shown[-1] is original
    ui.toggleButton.click()
    assert (
        slicer.calls[-1][1]["background"] is protected and ui.toggleButton.text == "Show original"
    )
    ui.overlayCheckBox.click()
    assert slicer.calls[-1] == ("layers", {"label": None})

    # protect the dataset: progress from the timer, cancel, then a full run. First with the
    # server's own label 1 as a segment (loaded with the image): it goes as that label value
    loaded = next(n for n in slicer.mrmlScene.nodes if n.cls == "vtkMRMLSegmentationNode")
    labelmap = widget.logic.serverLabels["breast1"]
    assert loaded.GetAttribute("MedUE.imageId") == "breast1" and labels_in(labelmap) == [1]
    loaded.masks = {"Segment_1": labelmap == 1}
    ui.segmentSelector.node, ui.segmentSelector.segment = loaded, "Segment_1"
    ui.presetCombo.setCurrentIndex(ui.presetCombo.findText("strong"))
    ui.exportNameEdit.text = "from-slicer"
    ui.methodCombo.setCurrentIndex(ui.methodCombo.findText("umed"))  # minutes of fitting: the
    ui.protectButton.click()  # cancel lands while the job runs, however fast this machine is
    assert ui.cancelButton.enabled and not ui.protectButton.enabled
    run_timers(lambda: any(w in ui.jobStatusLabel.text for w in ("reading", "fitting")))
    ui.cancelButton.click()
    assert ui.jobStatusLabel.text.startswith("Cancelling")
    job_id = widget.monitor.job_id
    run_timers(lambda: widget.monitor is None, timeout=120)
    assert ui.jobStatusLabel.text.startswith("cancelled") and ui.protectButton.enabled
    sent = widget.client.http.json("GET", f"/protect/jobs/{job_id}", "check")["request"]
    assert sent["settings"]["roi"]["label_values"] == [1] and sent["export"] == "from-slicer"
    # then the dataset's labels, all of them
    ui.methodCombo.setCurrentIndex(ui.methodCombo.findText("pattern-blocks"))
    ui.roiSourceCombo.setCurrentIndex(0)
    ui.labelValuesEdit.text = "one"
    ui.protectButton.click()
    assert ui.jobStatusLabel.text.startswith("⚠ label values are positive whole numbers")
    ui.labelValuesEdit.text = ""
    ui.protectButton.click()
    percents = []
    run_timers(lambda: percents.append(ui.jobProgressBar.value) or widget.monitor is None, 180)
    assert ui.jobStatusLabel.text == "finished: 2 of 2 images protected"
    assert percents[-1] == 100 and all(0 <= p <= 100 for p in percents)
    assert ui.releaseCombo.currentText == "from-slicer" and ui.exportButton.enabled

    # export into a folder and into the scene
    ui.exportFolderEdit.currentPath = str(tmp_path / "release")
    ui.exportToSceneCheckBox.click()
    before = len(slicer.mrmlScene.nodes)
    ui.exportButton.click()
    run_timers(lambda: _idle(widget) and widget.export.finished, timeout=60)
    assert (
        ui.exportStatusLabel.text.startswith("exported 2 of 2")
        and ui.exportProgressBar.value == 100
    )
    assert sorted(p.name for p in (tmp_path / "release").iterdir()) == [
        "brain2.nii.gz",
        "breast1.nii.gz",
    ]
    assert len(slicer.mrmlScene.nodes) == before + 2

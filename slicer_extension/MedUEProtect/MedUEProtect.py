"""MedUE Protect: protect a hospital's imaging dataset from unauthorised training, from 3D Slicer.

The panel talks to a MedUE server (``medue serve``): preview a method on the current volume (the
protected volume beside the original at one clinical window, the change as a colour overlay, a
flicker between the two, PSNR / SSIM / max change), protect the server's dataset as a job
(progress, ETA, cancel), export the protected copies, and verify a suspect model against a
release (the server's p-value against decoy keys, and its report). All logic is in
``MedUEProtectLib`` (plain Python, tested against a real server); this file only binds it to
Slicer's widgets and scene. Long work never blocks the UI: server jobs and slow calls are
polled from ``qt.QTimer``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile

import ctk
import numpy as np
import qt
import slicer
import vtk
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

from MedUEProtectLib import (
    AuthRequired,
    BackgroundCall,
    ExportTask,
    JobMonitor,
    JobRequest,
    MedUEClient,
    MedUEError,
    PreviewSettings,
    display,
    download_report,
    panel,
    roi,
    verify_model,
)
from MedUEProtectLib.nifti import read_nifti
from MedUEProtectLib.preview import describe, looks_like_ct, unit_name

IMAGE_ID = "MedUE.imageId"  # node attribute: the server image a volume was loaded from
SETTINGS_URL = "MedUEProtect/serverUrl"
POLL_MS, CALL_MS = 1000, 200


class MedUEProtect(ScriptedLoadableModule):
    def __init__(self, parent) -> None:
        ScriptedLoadableModule.__init__(self, parent)
        parent.title = "MedUE Protect"
        parent.categories = ["Utilities"]
        parent.dependencies = []
        parent.contributors = ["MedUE"]
        parent.helpText = (
            "Preview unlearnable-example protection on a volume and protect a dataset on a MedUE "
            "server (medue serve). See docs/SLICER.md in the MedUE repository."
        )
        parent.acknowledgementText = "Talks to MedUE's MONAI Label server."


class MedUEProtectWidget(ScriptedLoadableModuleWidget):
    """The panel: reads widgets, calls MedUEProtectLib, shows what it returns."""

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        root = slicer.util.loadUI(self.resourcePath("UI/MedUEProtect.ui"))
        self.layout.addWidget(root)
        self.ui = slicer.util.childWidgetVariables(root)
        for selector in (self.ui.inputVolumeSelector, self.ui.roiBoxSelector,
                         self.ui.segmentSelector):  # fmt: skip
            selector.setMRMLScene(slicer.mrmlScene)
        self.logic = MedUEProtectLogic()
        self.client, self.info, self.imageIds = None, None, []
        self.pending, self.monitor, self.export, self.nodes = None, None, None, {}
        self.verdict = None
        self.flicker = display.Flicker()
        self.callTimer = self._timer(CALL_MS, self.onCallTick)
        self.pollTimer = self._timer(POLL_MS, self.onPollTick)
        self.flickerTimer = self._timer(self.flicker.interval_ms, self.onFlickerTick)
        for name, slot in (("connectButton", self.onConnect), ("loginButton", self.onLogin),
                           ("loadImageButton", self.onLoadImage), ("refreshButton", self.onRefresh),
                           ("previewButton", self.onPreview), ("toggleButton", self.onToggle),
                           ("protectButton", self.onProtect), ("cancelButton", self.onCancel),
                           ("exportButton", self.onExport), ("verifyButton", self.onVerify),
                           ("verifyReportButton", self.onVerifyReport)):  # fmt: skip
            getattr(self.ui, name).connect("clicked(bool)", slot)
        self.ui.flickerCheckBox.connect("toggled(bool)", self.onFlicker)
        self.ui.overlayCheckBox.connect("toggled(bool)", self.onOverlay)
        self.ui.roiSourceCombo.connect("currentIndexChanged(int)", self.onRoiSource)
        self.ui.presetCombo.connect("currentIndexChanged(int)", self.onPreset)
        self.ui.inputVolumeSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onVolume)
        self.ui.roiSourceCombo.addItems(list(panel.ROI_SOURCES))
        self.ui.verifyArchCombo.addItems(list(panel.VERIFY_NETWORKS))
        self.ui.serverUrlEdit.text = qt.QSettings().value(SETTINGS_URL, "http://127.0.0.1:8000")
        self.ui.loginWidget.visible = False
        self.ui.exportFolderEdit.filters = ctk.ctkPathLineEdit.Dirs
        self.onRoiSource(0)

    def cleanup(self) -> None:
        for timer in (self.callTimer, self.pollTimer, self.flickerTimer):
            timer.stop()

    def _timer(self, interval: int, slot) -> qt.QTimer:
        timer = qt.QTimer()
        timer.setInterval(interval)
        timer.connect("timeout()", slot)
        return timer

    def _say(self, label, error) -> None:
        label.text = f"⚠ {error}"

    def _background(self, call: BackgroundCall, done, label, text: str) -> None:
        """Run ``call`` while the timer polls it; then ``done(value)`` or the error on ``label``."""
        self.pending = (call, done, label)
        label.text = text
        self.callTimer.start()

    def onCallTick(self) -> None:
        call, done, label = self.pending
        if not call.done:
            return
        self.callTimer.stop()
        self.pending = None
        try:
            done(call.result())
        except MedUEError as error:
            self._say(label, error)
            self._enable()

    # -- server ----------------------------------------------------------------------------
    def onConnect(self, checked: bool = False) -> None:
        try:
            self.client = MedUEClient(self.ui.serverUrlEdit.text)
            self._connected(self.client.connect())
        except AuthRequired as error:
            self.ui.loginWidget.visible = True
            self._say(self.ui.serverStatusLabel, error)
        except MedUEError as error:
            self.info = None
            self._say(self.ui.serverStatusLabel, error)
        self._enable()

    def onLogin(self, checked: bool = False) -> None:
        try:
            if self.client is None:
                self.client = MedUEClient(self.ui.serverUrlEdit.text)
            self.client.login(self.ui.usernameEdit.text, self.ui.passwordEdit.text)
            self.ui.passwordEdit.text = ""
            self._connected(self.client.connect())
        except MedUEError as error:
            self._say(self.ui.serverStatusLabel, error)
        self._enable()

    def _connected(self, info) -> None:
        self.info = info
        qt.QSettings().setValue(SETTINGS_URL, info.url)
        self.ui.loginWidget.visible = info.auth
        status = info.summary()
        self.ui.serverStatusLabel.text = status + (f"\n⚠ {info.protect_refused}"
                                                   if info.protect_refused else "")  # fmt: skip
        self.ui.methodCombo.clear()
        self.ui.methodCombo.addItems(info.methods)
        self.ui.methodCombo.setCurrentIndex(info.methods.index(info.default_method))
        choices, default = panel.preset_choices(info.presets)
        self.ui.presetCombo.clear()
        self.ui.presetCombo.addItems(choices)
        self.ui.presetCombo.setCurrentIndex(default)
        self.onRefresh()

    def onRefresh(self, checked: bool = False) -> None:
        try:
            images = self.client.images()
            releases = self.client.releases() if not self.info.protect_refused else []
        except MedUEError as error:
            self._say(self.ui.serverStatusLabel, error)
            return
        self.imageIds = [image.id for image in images]
        self.ui.datasetLabel.text = panel.dataset_line(self.info.dataset, images)
        self.ui.imageList.clear()
        for row in panel.image_rows(images):
            self.ui.imageList.addItem(row)
        if images:
            self.ui.imageList.setCurrentRow(0)
        for combo in (self.ui.releaseCombo, self.ui.verifyReleaseCombo):
            combo.clear()
            combo.addItems(releases)
        self._enable()

    def _enable(self) -> None:
        connected = self.info is not None
        state = panel.PanelState(
            connected, connected and not self.info.protect_refused, len(self.imageIds),
            self.ui.releaseCombo.count, self.pending is not None, self.monitor is not None,
            bool(self.nodes), self.verdict is not None,
        )  # fmt: skip
        for name, enabled in state.enabled().items():
            getattr(self.ui, name).enabled = enabled

    # -- settings --------------------------------------------------------------------------
    def onRoiSource(self, index: int) -> None:
        for name, visible in panel.roi_rows(index).items():
            getattr(self.ui, name).visible = visible

    def onPreset(self, index: int) -> None:
        custom = self.ui.presetCombo.currentText == panel.CUSTOM
        self.ui.epsilonSlider.enabled = custom
        meaning = (self.info.presets.get(self.ui.presetCombo.currentText, "")
                   if self.info else "")  # fmt: skip
        self.ui.presetHelpLabel.text = meaning if not custom else "ε in the volume's own units."

    def onVolume(self, node) -> None:
        is_ct = node is not None and self.logic.isCT(node)
        self.ui.epsilonSlider.suffix = f" {unit_name(is_ct)}"

    def _budget(self) -> tuple:
        """(preset, epsilon): one of them is None."""
        return panel.budget(self.ui.presetCombo.currentText, float(self.ui.epsilonSlider.value))

    def _box(self, volume):
        """The ROI as a voxel box on ``volume`` (None: the server's labels)."""
        source, margin = self.ui.roiSourceCombo.currentIndex, int(self.ui.marginSpinBox.value)
        if source == panel.SEGMENT:
            segmentation = self.ui.segmentSelector.currentNode()
            segment = self.ui.segmentSelector.currentSegmentID()
            if segmentation is None or not segment:
                raise MedUEError("choose a segmentation and a segment as the ROI")
            return self.logic.boxFromSegment(segmentation, segment, volume, margin)
        if source == panel.ROI_BOX:
            box = self.ui.roiBoxSelector.currentNode()
            if box is None:
                raise MedUEError("choose (or place) a markups ROI box as the ROI")
            return self.logic.boxFromMarkups(box, volume, margin)
        return None

    def _serverLabel(self, volume):
        """The chosen segment's label value if it is one of the server's labels, unedited."""
        segmentation = self.ui.segmentSelector.currentNode()
        segment = self.ui.segmentSelector.currentSegmentID()
        if segmentation is None or not segment or volume is None:
            return None
        return self.logic.serverLabel(segmentation, segment, volume)

    # -- preview ---------------------------------------------------------------------------
    def onLoadImage(self, checked: bool = False) -> None:
        image_id = self.imageIds[self.ui.imageList.currentRow]
        folder = tempfile.mkdtemp(prefix="medue-image-")
        call = BackgroundCall(self.client.download_case, image_id, folder)
        self._background(call, self._loaded, self.ui.serverStatusLabel, f"Loading {image_id}…")
        self._enable()

    def _loaded(self, files) -> None:
        image_id, image, labels = files
        node = self.logic.loadImage(image, image_id, labels)
        self.ui.inputVolumeSelector.setCurrentNode(node)
        self.ui.serverStatusLabel.text = f"Loaded {image_id}." + ("" if labels else " (no labels)")
        self._enable()

    def onPreview(self, checked: bool = False) -> None:
        volume = self.ui.inputVolumeSelector.currentNode()
        try:
            if volume is None:
                raise MedUEError("choose the volume to preview (load one from the dataset)")
            image_id = volume.GetAttribute(IMAGE_ID)
            box = self._box(volume)
            upload = None if image_id else self.logic.saveForUpload(volume)
            preset, epsilon = self._budget()
            settings = PreviewSettings(self.ui.methodCombo.currentText, image_id, upload, preset,
                                       epsilon, box)  # fmt: skip
            settings.params()  # checks it before anything is sent
        except MedUEError as error:
            self._say(self.ui.previewReadoutLabel, error)
            return
        call = BackgroundCall(self.client.preview, settings)
        self._background(call, lambda result: self._previewed(volume, result),
                         self.ui.previewReadoutLabel, "Protecting on the server…")  # fmt: skip
        self._enable()

    def _previewed(self, volume, result) -> None:
        self.nodes = self.logic.showPreview(volume, result, self.ui.overlayCheckBox.checked)
        window = display.clinical_window(server=result.window)
        unit = unit_name(result.is_ct)
        self.ui.previewReadoutLabel.text = describe(result)
        epsilon = float(result.budget.get("epsilon_native") or 0)
        self.ui.overlayLegendLabel.text = display.overlay_legend(epsilon, unit, window)
        self.ui.epsilonSlider.suffix = f" {unit}"
        self.ui.toggleButton.text = "Show protected"
        self._enable()

    def onFlicker(self, checked: bool) -> None:
        if checked:
            self.flicker.start()
            self.flickerTimer.start()
        else:
            self.flickerTimer.stop()
            self.logic.showBackground(self.nodes.get(self.flicker.stop()))

    def onFlickerTick(self) -> None:
        self.logic.showBackground(self.nodes.get(self.flicker.tick()))

    def onToggle(self, checked: bool = False) -> None:
        showing = self.flicker.tick()
        self.logic.showBackground(self.nodes.get(showing))
        self.ui.toggleButton.text = "Show original" if showing == "protected" else "Show protected"

    def onOverlay(self, checked: bool) -> None:
        self.logic.showOverlay(self.nodes.get("overlay") if checked else None)

    # -- protect and export ----------------------------------------------------------------
    def onProtect(self, checked: bool = False) -> None:
        try:
            preset, epsilon = self._budget()
            source = self.ui.roiSourceCombo.currentIndex
            volume = self.ui.inputVolumeSelector.currentNode()
            value = self._serverLabel(volume) if source == panel.SEGMENT else None
            if source == panel.LABELS or value is not None:
                typed = panel.label_values(self.ui.labelValuesEdit.text)
                area = roi.labels_roi([value] if value is not None else typed)
            else:
                if volume is None:
                    raise MedUEError("choose the volume the segment or ROI box is drawn on")
                area = roi.box_roi(self._box(volume))
            request = JobRequest(self.ui.methodCombo.currentText, None, preset, epsilon, area,
                                 self.ui.exportNameEdit.text.strip() or None)  # fmt: skip
            status = self.client.submit(request)
        except MedUEError as error:
            self._say(self.ui.jobStatusLabel, error)
            return
        self.monitor = JobMonitor(self.client, status.id)
        self.ui.jobProgressBar.value = 0
        self.ui.jobStatusLabel.text = f"Job {status.id} started: release {status.export}."
        self.pollTimer.start()
        self._enable()

    def onPollTick(self) -> None:
        try:
            progress = self.monitor.poll()
        except MedUEError as error:
            self.pollTimer.stop()
            self.monitor = None
            self._say(self.ui.jobStatusLabel, error)
            self._enable()
            return
        self.ui.jobProgressBar.value = progress.percent
        self.ui.jobStatusLabel.text = progress.text + (f"\n⚠ {progress.warning}"
                                                       if progress.warning else "")  # fmt: skip
        if progress.finished:
            self.pollTimer.stop()
            self.monitor = None
            self.onRefresh()
            index = self.ui.releaseCombo.findText(progress.status.export)
            self.ui.releaseCombo.setCurrentIndex(max(0, index))
            self._enable()

    def onCancel(self, checked: bool = False) -> None:
        try:
            self.monitor.cancel()
            self.ui.jobStatusLabel.text = "Cancelling: the job stops after the current image."
        except MedUEError as error:
            self._say(self.ui.jobStatusLabel, error)

    def onExport(self, checked: bool = False) -> None:
        to_folder = self.ui.exportToFolderCheckBox.checked
        to_scene = self.ui.exportToSceneCheckBox.checked
        folder = self.ui.exportFolderEdit.currentPath if to_folder else tempfile.mkdtemp()
        try:
            if not folder or not (to_folder or to_scene):
                raise MedUEError("choose a folder, or tick 'Into the scene'")
            job = self.client.release_job(self.ui.releaseCombo.currentText)
            self.export = ExportTask.for_job(self.client, job, folder)
        except MedUEError as error:
            self._say(self.ui.exportStatusLabel, error)
            return
        self.ui.exportProgressBar.value = 0
        self._exportNext(None, to_scene)

    def _exportNext(self, path, to_scene: bool) -> None:
        if path is not None and to_scene and os.path.isfile(str(path)):
            self.logic.loadExported(path)
        task = self.export
        self.ui.exportProgressBar.value = int(100 * task.index / max(1, len(task.images)))
        if task.finished:
            self.ui.exportStatusLabel.text = task.describe()
            self._enable()
            return
        text = f"Exporting {task.images[task.index]}…"
        then = lambda path: self._exportNext(path, to_scene)  # noqa: E731
        self._background(BackgroundCall(task.step), then, self.ui.exportStatusLabel, text)

    # -- proof of use ----------------------------------------------------------------------
    def onVerify(self, checked: bool = False) -> None:
        release = self.ui.verifyReleaseCombo.currentText or None
        arch = panel.network(self.ui.verifyArchCombo.currentText)
        call = BackgroundCall(verify_model, self.client, self.ui.verifyModelEdit.currentPath,
                              release, arch)  # fmt: skip
        self.verdict = None
        text = "Verifying on the server (a few minutes for a large network)…"
        self._background(call, self._verified, self.ui.verifyStatusLabel, text)
        self._enable()

    def _verified(self, outcome) -> None:
        self.verdict = outcome
        self.ui.verifyStatusLabel.text = outcome.summary()
        self._enable()

    def onVerifyReport(self, checked: bool = False) -> None:
        folder = tempfile.mkdtemp(prefix="medue-verify-")
        call = BackgroundCall(download_report, self.client, self.verdict, folder)
        self._background(call, self._reportHere, self.ui.verifyStatusLabel, "Fetching the report…")
        self._enable()

    def _reportHere(self, page) -> None:
        self.ui.verifyStatusLabel.text = f"{self.verdict.summary()}\nReport: {page}"
        self.logic.openInBrowser(page)
        self._enable()


class MedUEProtectLogic(ScriptedLoadableModuleLogic):
    """What touches the scene: loading, geometry, windows, the overlay and the slice views."""

    def __init__(self) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        self.serverLabels = {}  # image id -> its label map on the server (z, y, x)

    def loadImage(self, path, image_id: str, labels=None):
        node = slicer.util.loadVolume(str(path))
        node.SetName(image_id)
        node.SetAttribute(IMAGE_ID, image_id)
        if labels:
            segmentation = slicer.util.loadSegmentation(str(labels))
            segmentation.SetName(f"{image_id} labels")
            segmentation.SetAttribute(IMAGE_ID, image_id)  # its segments are the server's labels
            with contextlib.suppress(MedUEError):  # not NIfTI: its segments are sent as boxes
                self.serverLabels[image_id] = read_nifti(labels).array
        return node

    def ijkToWorld(self, volume) -> np.ndarray:
        """The volume's IJK-to-RAS matrix, through its parent transform if it has one."""
        matrix = vtk.vtkMatrix4x4()
        volume.GetIJKToRASMatrix(matrix)
        ijk_to_ras = slicer.util.arrayFromVTKMatrix(matrix)
        parent = volume.GetParentTransformNode()
        if parent is not None:
            to_world = vtk.vtkMatrix4x4()
            if not parent.GetMatrixTransformToWorld(to_world):
                raise MedUEError("the volume is under a non-linear transform: harden it first")
            ijk_to_ras = slicer.util.arrayFromVTKMatrix(to_world) @ ijk_to_ras
        return ijk_to_ras

    def boxFromMarkups(self, roiNode, volume, margin: int = 0) -> list:
        size = [0.0, 0.0, 0.0]
        roiNode.GetSize(size)
        object_to_world = slicer.util.arrayFromVTKMatrix(roiNode.GetObjectToWorldMatrix())
        shape = slicer.util.arrayFromVolume(volume).shape
        return roi.box_from_roi(size, object_to_world, self.ijkToWorld(volume), shape, margin)

    def boxFromSegment(self, segmentation, segmentId: str, volume, margin: int = 0) -> list:
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume)
        return roi.box_from_mask(mask, margin)

    def serverLabel(self, segmentation, segmentId: str, volume):
        """The server label value the segment is exactly (None: drawn or edited here)."""
        labelmap = self.serverLabels.get(segmentation.GetAttribute(IMAGE_ID) or "")
        if labelmap is None:
            return None
        mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segmentId, volume)
        return roi.server_label(mask, labelmap)

    def isCT(self, volume) -> bool:
        return looks_like_ct(float(slicer.util.arrayFromVolume(volume).min()))

    def saveForUpload(self, volume) -> str:
        """The volume as a NRRD file to send to the server (it is not on the server)."""
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in volume.GetName())
        path = os.path.join(tempfile.mkdtemp(prefix="medue-upload-"), f"{name or 'volume'}.nrrd")
        if not slicer.util.saveNode(volume, path):
            raise MedUEError(f"cannot write {volume.GetName()} to send it to the server")
        return path

    def showPreview(self, original, result, overlay: bool = True) -> dict:
        """Load the protected volume beside ``original`` at the server's window, add the change
        as a colour overlay, and show them; the nodes by role."""
        protected = slicer.util.loadVolume(str(result.path))
        protected.SetName(f"{original.GetName()} protected ({result.method})")
        window = display.clinical_window(server=result.window)
        for node in (original, protected):
            node.GetDisplayNode().AutoWindowLevelOff()
            node.GetDisplayNode().SetWindowLevel(window.width, window.level)
        change = display.difference(slicer.util.arrayFromVolume(original),
                                    slicer.util.arrayFromVolume(protected))  # fmt: skip
        labels = display.change_labels(change, float(result.budget.get("epsilon_native") or 0))
        matrix = vtk.vtkMatrix4x4()
        original.GetIJKToRASMatrix(matrix)
        changes = slicer.util.addVolumeFromArray(labels, matrix, f"{original.GetName()} change",
                                                 "vtkMRMLLabelMapVolumeNode")  # fmt: skip
        changes.SetAndObserveTransformNodeID(original.GetTransformNodeID())
        changes.GetDisplayNode().SetAndObserveColorNodeID(self.colours().GetID())
        slicer.util.setSliceViewerLayers(background=original, label=changes if overlay else None,
                                         labelOpacity=0.8)  # fmt: skip
        return {"original": original, "protected": protected, "overlay": changes}

    def colours(self):
        """The overlay's colour table (label 0 transparent), made once per scene."""
        node = slicer.mrmlScene.GetFirstNodeByName("MedUE change")
        if node is None:
            table = display.change_colours()
            node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLColorTableNode", "MedUE change")
            node.SetTypeToUser()
            node.SetNumberOfColors(len(table))
            for label, name, (r, g, b) in table:
                node.SetColor(label, name, r, g, b, 0.0 if label == 0 else 1.0)
        return node

    def showBackground(self, node) -> None:
        if node is not None:
            slicer.util.setSliceViewerLayers(background=node)

    def showOverlay(self, node) -> None:
        slicer.util.setSliceViewerLayers(label=node)

    def loadExported(self, path) -> None:
        slicer.util.loadVolume(str(path))

    def openInBrowser(self, path) -> None:
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(path)))


class MedUEProtectTest(ScriptedLoadableModuleTest):
    """In Slicer: the scene-side logic on synthetic volumes (no server needed)."""

    def runTest(self) -> None:
        slicer.mrmlScene.Clear()
        self.test_markups_roi_box()
        self.test_overlay_labels()

    def test_markups_roi_box(self) -> None:
        ijk_to_ras = np.diag([-0.5, -0.5, 2.0, 1.0])
        volume = slicer.util.addVolumeFromArray(np.zeros((10, 40, 30), np.int16), ijk_to_ras)
        box = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode")
        box.SetCenter(-5.0, -10.0, 8.0)  # voxel centre (i, j, k) = (10, 20, 4)
        box.SetSize(4.0, 4.0, 4.0)  # i 6..14, j 16..24, k 3..5
        self.assertEqual(MedUEProtectLogic().boxFromMarkups(box, volume), [3, 16, 6, 6, 25, 15])
        self.delayDisplay("markups ROI -> voxel box: ok")

    def test_overlay_labels(self) -> None:
        change = np.zeros((2, 3, 4), np.float32)
        change[0, 0, :2] = [-6.0, 6.0]
        labels = display.change_labels(change, 6.0)
        self.assertEqual(labels[0, 0, :3].tolist(), [4, 8, 0])
        self.delayDisplay("overlay labels: ok")

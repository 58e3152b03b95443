"""A thin fake of the ``slicer``, ``qt``, ``ctk`` and ``vtk`` modules: enough to build the MedUE
Protect panel from its real ``.ui`` file, click its buttons and tick its timers outside Slicer.

Widgets are built from the ``.ui`` XML (every named widget, with the properties it sets), so a
name the module uses but the ``.ui`` lacks fails here as it would in Slicer. Volumes are numpy
arrays with an IJK-to-RAS matrix; ``loadVolume`` reads NIfTI with MedUEProtectLib's reader. The
calls that change the views are recorded in ``slicer.calls``. Nothing else is faked: the panel's
Lib talks to a real server.
"""

from __future__ import annotations

import sys
import time
import types
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from MedUEProtectLib.nifti import read_nifti

SIGNALS = {"clicked(bool)", "toggled(bool)", "currentIndexChanged(int)", "timeout()",
           "currentNodeChanged(vtkMRMLNode*)"}  # fmt: skip


class FakeWidget:
    """Any Qt widget of the ``.ui``: properties as attributes, signals by their C++ signature."""

    def __init__(self, cls: str, name: str, properties: dict) -> None:
        defaults = {"enabled": True, "visible": True, "text": "", "checked": False, "value": 0,
                    "currentPath": "", "items": [], "currentIndex": -1, "currentRow": -1,
                    "node": None, "segment": None, "slots": {}}  # fmt: skip
        self.__dict__.update(className=cls, objectName=name, **defaults)
        self.__dict__.update(properties)

    def connect(self, signal: str, slot) -> None:
        assert signal in SIGNALS, f"{self.className}.{signal} is not a signal the fake knows"
        self.slots.setdefault(signal, []).append(slot)

    def emit(self, signal: str, *args) -> None:
        for slot in self.slots.get(signal, []):
            slot(*args)

    def __setattr__(self, name: str, value) -> None:
        changed = self.__dict__.get(name) != value
        self.__dict__[name] = value
        if name == "checked" and changed:
            self.emit("toggled(bool)", value)
        if name == "currentIndex" and changed:
            self.emit("currentIndexChanged(int)", value)

    def click(self) -> None:
        assert self.enabled and self.visible, f"{self.objectName} is not clickable now"
        if self.className == "QCheckBox":
            self.checked = not self.checked
        self.emit("clicked(bool)", self.checked)

    # combo boxes and lists
    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def currentText(self) -> str:
        return self.items[self.currentIndex] if 0 <= self.currentIndex < len(self.items) else ""

    def clear(self) -> None:
        self.items = []
        self.currentIndex, self.currentRow = -1, -1

    def addItems(self, items) -> None:  # noqa: N802 - Qt's names
        for item in items:
            self.addItem(item)

    def addItem(self, item: str) -> None:  # noqa: N802
        self.items = [*self.items, item]
        if self.currentIndex < 0:
            self.currentIndex = 0

    def setCurrentIndex(self, index: int) -> None:  # noqa: N802
        self.currentIndex = index

    def setCurrentRow(self, row: int) -> None:  # noqa: N802
        self.currentRow = row

    def findText(self, text: str) -> int:  # noqa: N802
        return self.items.index(text) if text in self.items else -1

    # MRML selectors
    def setMRMLScene(self, scene) -> None:  # noqa: N802
        self.__dict__["scene"] = scene

    def currentNode(self):  # noqa: N802
        return self.node

    def setCurrentNode(self, node) -> None:  # noqa: N802
        self.node = node
        self.emit("currentNodeChanged(vtkMRMLNode*)", node)

    def currentSegmentID(self):  # noqa: N802
        return self.segment


def _property(element: ET.Element):
    value = element[0]
    if value.tag == "bool":
        return value.text == "true"
    if value.tag in ("number", "double"):
        return float(value.text) if value.tag == "double" else int(value.text)
    if value.tag == "stringlist":
        return [s.text for s in value]
    return value.text or ""


def load_ui(path: str) -> FakeWidget:
    """The ``.ui`` as fake widgets; the root keeps every named one in ``children``."""
    tree = ET.parse(path).getroot()
    top = tree.find("widget")
    root = FakeWidget(top.get("class"), top.get("name"), {})
    root.__dict__["children"] = {}
    for element in top.iter("widget"):
        properties = {p.get("name"): _property(p) for p in element.findall("property")}
        properties.pop("geometry", None)
        widget = FakeWidget(element.get("class"), element.get("name"), properties)
        root.children[element.get("name")] = widget
    return root


class FakeTimer:
    """``qt.QTimer``: fired by :func:`run_timers` when due."""

    timers: list[FakeTimer] = []

    def __init__(self) -> None:
        self.interval, self.active, self.due, self.slots = 0, False, 0.0, []
        FakeTimer.timers.append(self)

    def setInterval(self, interval: int) -> None:  # noqa: N802
        self.interval = interval

    def connect(self, signal: str, slot) -> None:
        assert signal == "timeout()"
        self.slots.append(slot)

    def start(self) -> None:
        self.active, self.due = True, time.monotonic() + self.interval / 1000

    def stop(self) -> None:
        self.active = False

    def isActive(self) -> bool:  # noqa: N802
        return self.active


def run_timers(until, timeout: float = 120.0) -> int:
    """Fire due timers until ``until()`` is true; how many fired. TimeoutError after ``timeout``."""
    deadline, fired = time.monotonic() + timeout, 0
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("the panel did not get there in time")
        for timer in [t for t in FakeTimer.timers if t.active and t.due <= time.monotonic()]:
            timer.due = time.monotonic() + timer.interval / 1000
            for slot in timer.slots:
                slot()
            fired += 1
        time.sleep(0.01)
    return fired


class Matrix:
    """``vtk.vtkMatrix4x4``."""

    def __init__(self, array=None) -> None:
        self.array = np.eye(4) if array is None else np.asarray(array, float)

    def DeepCopy(self, other) -> None:  # noqa: N802
        self.array = np.array(other.array)


class Node:
    """A volume, labelmap, segmentation, ROI or colour table node."""

    def __init__(self, cls: str, name: str, array=None, ijk_to_ras=None) -> None:
        self.cls, self.name, self.array, self.attributes = cls, name, array, {}
        self.ijk_to_ras = np.eye(4) if ijk_to_ras is None else np.asarray(ijk_to_ras, float)
        self.display = types.SimpleNamespace(window=None, colours=None)
        self.display.AutoWindowLevelOff = lambda: None
        self.display.SetWindowLevel = lambda w, lv: setattr(self.display, "window", (w, lv))
        self.display.SetAndObserveColorNodeID = lambda i: setattr(self.display, "colours", i)
        self.colours: dict = {}

    def GetName(self) -> str:  # noqa: N802
        return self.name

    def SetName(self, name: str) -> None:  # noqa: N802
        self.name = name

    def GetID(self) -> str:  # noqa: N802
        return f"{self.cls}:{self.name}"

    def GetAttribute(self, key):  # noqa: N802
        return self.attributes.get(key)

    def SetAttribute(self, key, value) -> None:  # noqa: N802
        self.attributes[key] = value

    def GetIJKToRASMatrix(self, matrix: Matrix) -> None:  # noqa: N802
        matrix.array = self.ijk_to_ras.copy()

    def GetParentTransformNode(self):  # noqa: N802
        return None

    def GetTransformNodeID(self):  # noqa: N802
        return None

    def SetAndObserveTransformNodeID(self, node_id) -> None:  # noqa: N802
        assert node_id is None

    def GetDisplayNode(self):  # noqa: N802
        return self.display

    def SetTypeToUser(self) -> None:  # noqa: N802
        pass

    def SetNumberOfColors(self, count: int) -> None:  # noqa: N802
        pass

    def SetColor(self, index, name, r, g, b, a) -> None:  # noqa: N802
        self.colours[index] = (name, r, g, b, a)

    # a markups ROI, not rotated, under no transform
    def SetCenter(self, x, y, z) -> None:  # noqa: N802
        self.center = (x, y, z)

    def SetSize(self, x, y, z) -> None:  # noqa: N802
        self.size = (x, y, z)

    def GetSize(self, size: list) -> None:  # noqa: N802
        size[:] = self.size

    def GetObjectToWorldMatrix(self) -> Matrix:  # noqa: N802
        matrix = np.eye(4)
        matrix[:3, 3] = self.center
        return Matrix(matrix)


class Scene:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def AddNewNodeByClass(self, cls: str, name: str = "") -> Node:  # noqa: N802
        return self.add(Node(cls, name))

    def GetFirstNodeByName(self, name: str):  # noqa: N802
        return next((n for n in self.nodes if n.name == name), None)

    def Clear(self) -> None:  # noqa: N802
        self.nodes.clear()


def _load_volume(path: str) -> Node:
    image = read_nifti(path)
    sx, sy, sz = image.spacing
    return SCENE.add(Node("vtkMRMLScalarVolumeNode", Path(path).name, image.array,
                          np.diag([-sx, -sy, sz, 1.0])))  # fmt: skip


def _add_volume(array, ijk_to_ras=None, name="", node_class="vtkMRMLScalarVolumeNode") -> Node:
    matrix = ijk_to_ras.array if isinstance(ijk_to_ras, Matrix) else ijk_to_ras
    return SCENE.add(Node(node_class, name, np.asarray(array), matrix))


SCENE = Scene()
CALLS: list[tuple] = []


class _ModuleBase:
    def __init__(self, parent=None) -> None:
        self.parent = parent if parent is not None else types.SimpleNamespace()


class _TestBase(unittest.TestCase):
    def delayDisplay(self, message: str) -> None:  # noqa: N802 - Slicer's name
        self.shown = message


class _WidgetBase:
    def __init__(self, parent=None) -> None:
        self.layout = types.SimpleNamespace(widgets=[])
        self.layout.addWidget = self.layout.widgets.append

    def setup(self) -> None:
        pass

    def resourcePath(self, relative: str) -> str:  # noqa: N802
        return str(Path(sys.modules["MedUEProtect"].__file__).parent / "Resources" / relative)


def install() -> types.ModuleType:
    """Put the fakes in ``sys.modules`` (``slicer``, ``slicer.util``, ...); the fake slicer."""
    settings: dict = {}
    qt = types.ModuleType("qt")
    qt.QTimer = FakeTimer
    qt.QUrl = types.SimpleNamespace(fromLocalFile=lambda path: f"file://{path}")
    qt.QDesktopServices = types.SimpleNamespace(openUrl=lambda url: CALLS.append(("open", url)))
    qt.QSettings = lambda: types.SimpleNamespace(
        value=lambda key, default=None: settings.get(key, default),
        setValue=settings.__setitem__)  # fmt: skip
    vtk = types.ModuleType("vtk")
    vtk.vtkMatrix4x4 = Matrix
    ctk = types.ModuleType("ctk")
    ctk.ctkPathLineEdit = types.SimpleNamespace(Dirs=1)
    util = types.ModuleType("slicer.util")
    util.loadUI = load_ui
    util.childWidgetVariables = lambda root: types.SimpleNamespace(**root.children)
    util.loadVolume = _load_volume
    util.loadSegmentation = lambda path: SCENE.add(Node("vtkMRMLSegmentationNode", path))
    util.arrayFromVolume = lambda node: node.array
    util.arrayFromVTKMatrix = lambda matrix: matrix.array.copy()
    util.addVolumeFromArray = _add_volume
    util.saveNode = lambda node, path: False
    util.arrayFromSegmentBinaryLabelmap = lambda segmentation, segment, volume: segmentation.masks[
        segment
    ]
    util.setSliceViewerLayers = lambda **layers: CALLS.append(("layers", layers))
    slm = types.ModuleType("slicer.ScriptedLoadableModule")
    slm.ScriptedLoadableModule = _ModuleBase
    slm.ScriptedLoadableModuleWidget = _WidgetBase
    slm.ScriptedLoadableModuleLogic = _ModuleBase
    slm.ScriptedLoadableModuleTest = _TestBase
    slicer = types.ModuleType("slicer")
    slicer.util, slicer.mrmlScene, slicer.calls = util, SCENE, CALLS
    slicer.ScriptedLoadableModule = slm
    sys.modules.update({"qt": qt, "vtk": vtk, "ctk": ctk, "slicer": slicer, "slicer.util": util,
                        "slicer.ScriptedLoadableModule": slm})  # fmt: skip
    return slicer


def uninstall() -> None:
    for name in ("qt", "vtk", "ctk", "slicer", "slicer.util", "slicer.ScriptedLoadableModule",
                 "MedUEProtect"):  # fmt: skip
        sys.modules.pop(name, None)
    FakeTimer.timers.clear()
    SCENE.Clear()
    CALLS.clear()

"""Plain-Qt stand-ins for Slicer's custom widgets, so the module's ``.ui`` loads in PySide6.

Slicer's panels use CTK and MRML widgets (``ctkCollapsibleButton``, ``qMRMLNodeComboBox``, ...)
that exist only inside Slicer. Each stand-in here has the same class name, the properties the
``.ui`` sets, and a look close to Slicer's, built from stock Qt widgets. Used to draw the panel
for the clinicians' page (``render_panel.py``) and by the tests, which load the ``.ui`` through
``QUiLoader`` to check that it is valid Qt and holds every widget the module's code names.

Needs PySide6 (the ``dev`` extra); run with ``QT_QPA_PLATFORM=offscreen`` without a display.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtWidgets
from PySide6.QtCore import Property
from PySide6.QtUiTools import QUiLoader


class qMRMLWidget(QtWidgets.QWidget):  # noqa: N801 - Slicer's class name
    def setMRMLScene(self, scene) -> None:  # noqa: N802 - Slicer's method name
        self.scene = scene


class ctkCollapsibleButton(QtWidgets.QGroupBox):  # noqa: N801
    """A titled section (Slicer draws it as a button that folds the section away)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._collapsed = False
        self.setStyleSheet(
            "QGroupBox { font-weight: bold; border: 1px solid #b8b8b8; border-radius: 3px;"
            " margin-top: 12px; padding-top: 6px; } QGroupBox::title { subcontrol-origin: margin;"
            " left: 8px; padding: 0 4px; }"
        )

    def _text(self) -> str:
        return self.title()

    def _set_text(self, text: str) -> None:
        self.setTitle(f"▾ {text}")

    def _is_collapsed(self) -> bool:
        return self._collapsed

    def _set_collapsed(self, value: bool) -> None:
        self._collapsed = value

    text = Property(str, _text, _set_text)
    collapsed = Property(bool, _is_collapsed, _set_collapsed)


class qMRMLNodeComboBox(QtWidgets.QComboBox):  # noqa: N801
    """A node picker: a combo box listing the scene's nodes of ``nodeTypes``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._types: list[str] = []
        self.setMinimumWidth(160)

    def _node_types(self) -> list:
        return self._types

    def _set_node_types(self, types: list) -> None:
        self._types = list(types)

    def setMRMLScene(self, scene) -> None:  # noqa: N802
        self.scene = scene

    nodeTypes = Property(list, _node_types, _set_node_types)  # noqa: N815


class qMRMLSegmentSelectorWidget(qMRMLWidget):  # noqa: N801
    """A segmentation picker and a segment picker, one above the other."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.segmentationCombo = QtWidgets.QComboBox(self)
        self.segmentCombo = QtWidgets.QComboBox(self)
        layout.addWidget(self.segmentationCombo)
        layout.addWidget(self.segmentCombo)


class ctkSliderWidget(QtWidgets.QWidget):  # noqa: N801
    """A slider with a spin box beside it (CTK's number entry)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QtWidgets.QSlider(QtCore.Qt.Horizontal, self)
        self.spin = QtWidgets.QDoubleSpinBox(self)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.spin.valueChanged.connect(self._follow)

    def _follow(self, value: float) -> None:
        span = self.spin.maximum() - self.spin.minimum() or 1.0
        self.slider.setValue(int(1000 * (value - self.spin.minimum()) / span))

    def _get(name):  # noqa: N805 - a property factory, not a method
        return lambda self: getattr(self.spin, name)()

    def _set(name):  # noqa: N805
        def setter(self, value) -> None:
            getattr(self.spin, "set" + name[0].upper() + name[1:])(value)
            self.slider.setRange(0, 1000)
            self._follow(self.spin.value())

        return setter

    value = Property(float, _get("value"), _set("value"))
    minimum = Property(float, _get("minimum"), _set("minimum"))
    maximum = Property(float, _get("maximum"), _set("maximum"))
    singleStep = Property(float, _get("singleStep"), _set("singleStep"))  # noqa: N815
    decimals = Property(int, _get("decimals"), _set("decimals"))
    suffix = Property(str, _get("suffix"), _set("suffix"))


class ctkPathLineEdit(QtWidgets.QWidget):  # noqa: N801
    """A path entry with a browse button."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.edit = QtWidgets.QLineEdit(self)
        browse = QtWidgets.QToolButton(self)
        browse.setText("…")
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)

    def _path(self) -> str:
        return self.edit.text()

    def _set_path(self, path: str) -> None:
        self.edit.setText(path)

    currentPath = Property(str, _path, _set_path)  # noqa: N815


STANDINS = (qMRMLWidget, ctkCollapsibleButton, qMRMLNodeComboBox, qMRMLSegmentSelectorWidget,
            ctkSliderWidget, ctkPathLineEdit)  # fmt: skip


def application() -> QtWidgets.QApplication:
    """The one QApplication (created offscreen-ready if there is none yet)."""
    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def load_ui(path: str | Path) -> QtWidgets.QWidget:
    """The ``.ui`` at ``path`` built with real Qt widgets and the stand-ins; RuntimeError with
    the loader's message if it cannot be built."""
    application()
    loader = QUiLoader()
    for cls in STANDINS:
        loader.registerCustomWidget(cls)
    stream = QtCore.QFile(str(path))
    if not stream.open(QtCore.QIODevice.ReadOnly):
        raise RuntimeError(f"cannot open {path}")
    try:
        widget = loader.load(stream)
    finally:
        stream.close()
    if widget is None:
        raise RuntimeError(f"{path}: {loader.errorString()}")
    return widget


def named_widgets(root: QtWidgets.QWidget) -> dict[str, QtCore.QObject]:
    """Every named child object (widgets and layouts), as ``childWidgetVariables`` lists them."""
    found = {root.objectName(): root}
    for child in root.findChildren(QtCore.QObject):
        if child.objectName() and not child.objectName().startswith("qt_"):
            found.setdefault(child.objectName(), child)
    return found

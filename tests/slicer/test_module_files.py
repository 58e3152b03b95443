"""The extension as Slicer sees it: CMake layout, the ``.ui`` against the code, Python 3.9,
nothing imported that Slicer does not bundle, and the module's own self-test."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.slicer import fake_slicer
from tests.slicer.conftest import EXTENSION, MODULE_DIR

UI = MODULE_DIR / "Resources" / "UI" / "MedUEProtect.ui"
WIDGET_CODE = MODULE_DIR / "MedUEProtect.py"
LIB = MODULE_DIR / "MedUEProtectLib"
SLICER_BUNDLES = {"numpy", "requests", "slicer", "qt", "ctk", "vtk", "MedUEProtectLib"}


def _ui_names() -> dict[str, str]:
    """Widget name -> class, from the .ui XML."""
    root = ET.parse(UI).getroot()
    return {w.get("name"): w.get("class") for w in root.iter("widget")}


def _names_the_code_uses() -> set[str]:
    """``self.ui.NAME`` in the module, and the names the Lib hands it to set by name."""
    tree = ast.parse(WIDGET_CODE.read_text())
    used = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ui"}  # fmt: skip
    for call in ast.walk(tree):  # getattr(self.ui, "name") over a tuple of names
        if isinstance(call, ast.Tuple):
            used |= {e.value for e in call.elts if isinstance(e, ast.Constant) and
                     isinstance(e.value, str) and e.value.endswith(("Button", "Box"))}  # fmt: skip
    from MedUEProtectLib import panel  # noqa: PLC0415

    used |= set(panel.PanelState().enabled()) | set(panel.roi_rows(0))
    return used


def test_the_ui_holds_every_widget_the_code_names() -> None:
    names = _ui_names()
    used = _names_the_code_uses()
    assert len(used) > 40
    assert sorted(used - set(names)) == []
    assert names["MedUEProtect"] == "qMRMLWidget"
    assert names["inputVolumeSelector"] == "qMRMLNodeComboBox"
    assert names["segmentSelector"] == "qMRMLSegmentSelectorWidget"
    assert names["epsilonSlider"] == "ctkSliderWidget"
    assert names["exportFolderEdit"] == "ctkPathLineEdit"


def test_the_ui_builds_in_real_qt(monkeypatch) -> None:
    """Real Qt (PySide6, offscreen) with Slicer's custom widgets as plain-Qt stand-ins."""
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    monkeypatch.syspath_prepend(str(EXTENSION / "tools"))
    from qt_standins import load_ui, named_widgets  # noqa: PLC0415

    widgets = named_widgets(load_ui(UI))
    assert sorted(_names_the_code_uses() - set(widgets)) == []
    assert type(widgets["serverCollapsibleButton"]).__name__ == "ctkCollapsibleButton"
    assert widgets["passwordEdit"].echoMode().name == "Password"
    assert widgets["inputVolumeSelector"].nodeTypes == ["vtkMRMLScalarVolumeNode"]


def test_cmake_layout_of_a_slicer_extension() -> None:
    top = (EXTENSION / "CMakeLists.txt").read_text()
    for needed in ("project(MedUEProtect)", "EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY",
                   "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL",
                   "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS", "find_package(Slicer REQUIRED)",
                   "include(${Slicer_USE_FILE})", "add_subdirectory(MedUEProtect)",
                   "include(${Slicer_EXTENSION_GENERATE_CONFIG})",
                   "include(${Slicer_EXTENSION_CPACK})"):  # fmt: skip
        assert needed in top
    module = (MODULE_DIR / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule(" in module and "WITH_GENERIC_TESTS" in module
    for resource in ("Resources/Icons/${MODULE_NAME}.png", "Resources/UI/${MODULE_NAME}.ui"):
        assert resource in module
        assert (MODULE_DIR / resource.replace("${MODULE_NAME}", "MedUEProtect")).is_file()
    assert (MODULE_DIR / "Testing" / "Python" / "CMakeLists.txt").is_file()


def _python_files() -> list[Path]:
    return sorted(MODULE_DIR.rglob("*.py"))


def test_every_script_is_installed_by_cmake() -> None:
    module = (MODULE_DIR / "CMakeLists.txt").read_text()
    listed = {line.strip().replace("${MODULE_NAME}", "MedUEProtect")
              for line in module.splitlines() if line.strip().endswith(".py")}  # fmt: skip
    present = {str(p.relative_to(MODULE_DIR)) for p in _python_files()}
    assert present == listed


def test_python_39_syntax_and_vermin() -> None:
    for path in _python_files():
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
    vermin = Path(sys.executable).parent / "vermin"
    run = subprocess.run([str(vermin), "-t=3.9-", "--violations", "--no-tips", "-q",
                          str(MODULE_DIR)], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path.name}: relative import (Slicer loads by absolute name)")
    return found


@pytest.mark.parametrize("path", _python_files(), ids=lambda p: p.name)
def test_imports_only_what_slicer_bundles(path: Path) -> None:
    outside = _imports(path) - set(sys.stdlib_module_names) - {"__future__"}
    allowed = SLICER_BUNDLES if path == WIDGET_CODE else {"numpy", "requests", "MedUEProtectLib"}
    assert outside <= allowed, f"{path.name} imports {sorted(outside - allowed)}"


def test_the_modules_self_test_runs(monkeypatch) -> None:
    """``MedUEProtectTest`` (run by Slicer's ctest) against the fake scene."""
    fake_slicer.install()
    try:
        import MedUEProtect  # noqa: PLC0415

        test = MedUEProtect.MedUEProtectTest("runTest")
        test.runTest()
    finally:
        fake_slicer.uninstall()


def test_lib_modules_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in LIB.glob("*.py")}
    assert max(sizes.values()) < 400, sizes
    assert os.path.getsize(MODULE_DIR / "Resources" / "Icons" / "MedUEProtect.png") > 500

"""Every third-party module the code imports is declared in setup.py, so a new virtualenv has it.

A package installed by hand on a developer's machine once hid a missing install step: the suite
passed there and failed on a fresh machine. This test reads every ``import`` in the product, the
tests, the benchmarks and the Slicer module (AST, so imports inside functions count too), maps each
top-level module to the distribution that provides it (``importlib.metadata``) and fails when that
distribution is not named directly in ``install_requires`` or an extra. Data packages found without
importing them (``importlib.util.find_spec``, e.g. nimare's templates for the old synthetic
benchmarks) are not imports: the tests that need them skip with their reason when absent.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCANNED = ("plugin", "tests", "benchmarks", "sample_data", "scripts", "slicer_extension")
# 3D Slicer's own Python provides these; the tests stand them in (tests/slicer/fake_slicer.py).
SLICER_PROVIDED = {"slicer", "qt", "ctk", "vtk"}
OPTIONAL_EXTRAS = {"pycvvdp": "cvvdp"}
"""Modules of setup.py's optional extras (not installed by set-up): module -> distribution, which
must be declared; benchmarks/jnd_vs_cvvdp.py is the one user (the ``jnd-check`` extra)."""


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_distributions() -> set[str]:
    """Distribution names in setup.py's ``INSTALL_REQUIRES`` and ``extras_require``."""
    tree = ast.parse((REPO / "setup.py").read_text())
    requirements: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "INSTALL_REQUIRES" for t in node.targets
        ):
            requirements += ast.literal_eval(node.value)
        if isinstance(node, ast.keyword) and node.arg == "extras_require":
            for extra in ast.literal_eval(node.value).values():
                requirements += extra
    return {canonical(re.match(r"[A-Za-z0-9._-]+", r).group()) for r in requirements}


def first_party_names() -> set[str]:
    """Modules and packages of this repository (imported by path, not installed)."""
    names = {p.stem for root in SCANNED for p in (REPO / root).rglob("*.py")}
    return names | {p.parent.name for p in REPO.rglob("__init__.py")}


def imported_modules() -> dict[str, set[str]]:
    """Top-level third-party module -> the files (relative paths) that import it."""
    skip = set(sys.stdlib_module_names) | first_party_names() | SLICER_PROVIDED
    found: dict[str, set[str]] = {}
    for root in SCANNED:
        for path in (REPO / root).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in skip:
                        found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


def test_the_scan_sees_the_imports_it_must_check() -> None:
    found = imported_modules()
    for module in ("torch", "monai", "SimpleITK", "pytest", "jwt", "PySide6"):
        assert module in found
    assert not {"os", "medue", "tests", "slicer", "MedUEProtectLib"} & found.keys()


def test_every_imported_module_comes_from_a_declared_distribution() -> None:
    declared = declared_distributions()
    providers = packages_distributions()
    problems = []
    for module, files in sorted(imported_modules().items()):
        dists = {canonical(d) for d in providers.get(module, [])}
        if not dists and module in OPTIONAL_EXTRAS:
            dists = {canonical(OPTIONAL_EXTRAS[module])}
        where = ", ".join(sorted(files)[:3])
        if not dists:
            problems.append(f"{module} (imported by {where}) is not installed: declare it")
        elif not dists & declared:
            problems.append(f"{module} (imported by {where}) comes from {sorted(dists)}, "
                            "which setup.py does not declare")  # fmt: skip
    assert not problems, "\n".join(problems)


def test_declared_names_parse() -> None:
    declared = declared_distributions()
    assert {"torch", "monai", "simpleitk", "pytest", "pyside6-essentials"} <= declared

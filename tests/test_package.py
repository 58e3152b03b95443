"""The engine imports without starting (or even importing) the MONAI Label server, and the CLI
answers what needs no method (info, a refused job) without importing torch or MONAI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_engine_imports_without_the_server():
    code = (
        "import sys, medue.cli, medue.job.run, medue.methods.registry, medue.evaluate;"
        "print('monailabel' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    "command", [["info", "{data}/brain1.nii.gz"], ["protect", "{data}/missing", "{out}"],
                ["protect", "{data}", "{out}", "--epsilon", "0"]],
)  # fmt: skip
def test_info_and_refused_jobs_answer_without_loading_torch_or_monai(
    command, sample_dataset, tmp_path
):
    # MONAI's import alone takes 6 s here: a user's typo should not wait for it
    argv = [a.format(data=sample_dataset, out=tmp_path / "out") for a in command]
    code = (
        "import sys; from medue.cli import main; code = main(sys.argv[1:]);"
        "print(code, [m for m in ('torch', 'monai') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == f"{0 if command[0] == 'info' else 2} []", result


def test_every_package_folder_is_a_package_setup_installs():
    """setup.py's find_packages skips a folder without __init__.py: an installed copy lacks it."""
    root = Path(__file__).resolve().parents[1] / "plugin" / "medue"
    folders = {path.parent for path in root.rglob("*.py") if "__pycache__" not in path.parts}
    missing = sorted(str(f.relative_to(root)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"no __init__.py in {missing}"

"""The engine imports without starting (or even importing) the MONAI Label server."""

from __future__ import annotations

import subprocess
import sys


def test_engine_imports_without_the_server():
    code = (
        "import sys, medue.cli, medue.job, medue.methods, medue.evaluate;"
        "print('monailabel' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

#!/usr/bin/env bash
# README command 2: set up (idempotent, Orthanc too), lint, and run the test suite. Extra args go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/setup.sh"
bash "$repo/scripts/services.sh"  # Orthanc for the DICOMweb tests (apt, once per machine)
# Run this checkout's code even if the shared venv's editable install points at another clone.
export PYTHONPATH="$repo/plugin${PYTHONPATH:+:$PYTHONPATH}"
cd "$repo"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest "$@"

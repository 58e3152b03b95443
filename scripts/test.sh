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
# Two test processes (pytest-xdist), each test file whole in one of them (its module fixtures
# are built once); MEDUE_TEST_WORKERS=0 runs everything in this process.
workers="${MEDUE_TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != 0 ]; then parallel=(-n "$workers" --dist loadfile); fi
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest "${parallel[@]}" "$@"

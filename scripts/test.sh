#!/usr/bin/env bash
# README command 2: set up (idempotent), lint, and run the test suite. Extra args go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/setup.sh"
cd "$repo"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .
PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest "$@"

#!/usr/bin/env bash
# README command 1: set up (idempotent), build the bundled sample data, run the main job on it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/setup.sh"
# Run this checkout's code even if the shared venv's editable install points at another clone.
export PYTHONPATH="$repo/plugin${PYTHONPATH:+:$PYTHONPATH}"
"$venv/bin/python" "$repo/sample_data/build.py"
"$venv/bin/medue" info "$repo/sample_data/build/pyradiomics"

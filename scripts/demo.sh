#!/usr/bin/env bash
# README command 1: set up (idempotent), build the bundled sample data, run the main job on it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/setup.sh"
"$venv/bin/python" "$repo/sample_data/build.py"
"$venv/bin/medue" info "$repo/sample_data/build/pyradiomics"

#!/usr/bin/env bash
# README command 1: set up (idempotent), build the bundled sample data, protect it (default method).
# Output: out/sample_protected/ (the release: protected copies + labels, RELEASE.md, release.json)
# and out/sample_protected.private/ (owner-only: key, report.html, manifest.json, figures,
# generator.json, restoration data). Extra args go to `medue protect`.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
source "$repo/scripts/setup.sh"
# Run this checkout's code even if the shared venv's editable install points at another clone.
export PYTHONPATH="$repo/plugin${PYTHONPATH:+:$PYTHONPATH}"
"$venv/bin/python" "$repo/sample_data/build.py"
"$venv/bin/medue" info "$repo/sample_data/build/pyradiomics"
"$venv/bin/medue" protect "$repo/sample_data/build/pyradiomics" "$repo/out/sample_protected" "$@"

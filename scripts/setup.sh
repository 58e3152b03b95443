#!/usr/bin/env bash
# Create (or reuse) the MedUE virtualenv and install this checkout into it.
#
# Idempotent: the ~8 GB of dependencies are installed once per version of setup.py (a stamp file
# holds its hash); later runs only re-point the editable install at this checkout (seconds).
# The venv lives outside the checkout so fresh clones on the same machine (CI) reuse it.
# Override its place with MEDUE_VENV.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${MEDUE_VENV:-$HOME/.cache/medue/venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating virtualenv at $venv"
  mkdir -p "$(dirname "$venv")"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip setuptools wheel
fi

stamp="$venv/.medue-deps"
want="$(cat "$repo/setup.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing dependencies (first run takes a few minutes)"
  "$venv/bin/pip" install --quiet -e "$repo[dev]"
  echo "$want" > "$stamp"
else
  echo "[setup] dependencies up to date in $venv"
fi
# Always point the editable install at *this* checkout (cheap; no dependency resolution).
"$venv/bin/pip" install --quiet --no-deps --no-build-isolation -e "$repo"

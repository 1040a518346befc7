#!/usr/bin/env bash
# Create .venv and install evomerge (with test extras). On a machine without an NVIDIA GPU,
# torch is pinned to the CPU build 2.13.0 on every pip call, so nothing pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
constraints=()
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "torch==2.13.0" > .venv/cpu-constraints.txt
  constraints=(-c .venv/cpu-constraints.txt)
  export PIP_CONSTRAINT="$PWD/.venv/cpu-constraints.txt"
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q "${constraints[@]}" -e ".[test]"

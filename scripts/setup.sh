#!/usr/bin/env bash
# Create .venv with the CPU build of torch and this package installed (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
# torch first, pinned to the CPU wheel, so the open range in pyproject.toml never pulls CUDA wheels.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q "torch==${TORCH_VERSION:-2.13.0}"
fi
stamp=.venv/.installed-$(cat pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
    .venv/bin/pip install -q -e ".[test,tts]"
    touch "$stamp"
fi

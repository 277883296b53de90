#!/usr/bin/env bash
# Installs audiofx from this checkout into ./.venv (made if missing): torch 2.14.1 (the CUDA 13.0
# build, which also runs on CPU-only machines), the build and test tools, then the extension
# (CPU kernels always; CUDA kernels when torch has CUDA and nvcc is found, or as AUDIOFX_CUDA says).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
pip install -q --disable-pip-version-check "torch==2.14.1"
# setuptools/wheel/ninja: the extension builds without build isolation, against the torch above.
pip install -q --disable-pip-version-check setuptools wheel ninja pybind11
MAX_JOBS=${MAX_JOBS:-2} pip install -q --disable-pip-version-check --no-build-isolation -e ".[dev]"
python - <<'PY'
import torch, audiofx
from audiofx import _ops
print(f"audiofx {audiofx.__version__} installed: torch {torch.__version__}, "
      f"CUDA kernels {'built' if _ops.built_with_cuda() else 'not built'}, "
      f"GPU {'present' if torch.cuda.is_available() else 'absent'}")
PY

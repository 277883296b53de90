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
# The extension build runs verbose into a log (pip -q would hide the compiler's output): on failure
# its tail is printed; with AUDIOFX_PTXAS_VERBOSE=1 (CI) the ptxas register/spill report of every
# CUDA kernel is printed from it, names demangled.
BUILD_LOG=${AUDIOFX_BUILD_LOG:-build/install.log}
mkdir -p "$(dirname "$BUILD_LOG")"
if ! MAX_JOBS=${MAX_JOBS:-2} pip install -v --disable-pip-version-check --no-build-isolation \
    -e ".[dev]" >"$BUILD_LOG" 2>&1; then
  tail -n 60 "$BUILD_LOG"
  echo "install.sh: the build failed; full log in $BUILD_LOG" >&2
  exit 1
fi
if [ "${AUDIOFX_PTXAS_VERBOSE:-0}" = "1" ]; then
  echo "ptxas resource report (registers, stack, spills per kernel and architecture):"
  if grep -qE "ptxas info" "$BUILD_LOG"; then
    grep -E "ptxas info|bytes stack frame" "$BUILD_LOG" | sed 's/^[[:space:]]*/  /' \
      | { command -v c++filt >/dev/null && c++filt || cat; }
  else
    echo "  (none: the CUDA kernels were not built; see $BUILD_LOG)"
  fi
fi
python - <<'PY'
import torch, audiofx
from audiofx import _ops
print(f"audiofx {audiofx.__version__} installed: torch {torch.__version__}, "
      f"CUDA kernels {'built' if _ops.built_with_cuda() else 'not built'}, "
      f"GPU {'present' if torch.cuda.is_available() else 'absent'}")
PY

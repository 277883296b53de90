#!/usr/bin/env bash
# GPU check, in one call on a GPU machine with a fresh copy of this repo (meant to fit in 8
# minutes on 16 cores; not yet run on a GPU): build audiofx with its CUDA kernels on every core, run the CUDA tests, then the
# report's CUDA sections (the CUDA kernels against a device-to-device copy and cuFFT; the
# frame/hop geometry and lengths= tables on CUDA). Prints everything; with $OUT set, also writes
#   $OUT/gpu_check.log   this script's whole output (build summary, ptxas spills, tests, report)
#   $OUT/gpu_report.md   the report's markdown
#   $OUT/ptxas.txt       ptxas' registers / stack / spills per kernel
#
#   bash scripts/gpu_check.sh                  # the CUDA tests: pytest -m cuda over tests/
#   bash scripts/gpu_check.sh tests/test_cuda.py -k rms   # other pytest arguments instead
#
# Install: ./.venv when it exists (scripts/install.sh ran); else scripts/install.sh when a
# package index answers; else (machines that reach no network, with a CUDA torch already in
# ${PYTHON:-python3}) the extension is built in place against that torch, after installing the
# wheels in ./.whl, if any, offline (the test tools the image lacks, e.g. librosa: see
# README "GPU check"). The exit status is 1 when the build, a test or the report failed.
set -uo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
stamp() { echo "gpu_check: $1 at +$(( $(date +%s) - t0 )) s"; }
OUT_DIR=${OUT:-}
if [ -n "$OUT_DIR" ]; then
  mkdir -p "$OUT_DIR"
  exec > >(tee "$OUT_DIR/gpu_check.log") 2>&1
fi
status=0
jobs=$(nproc)
export MAX_JOBS=$jobs AUDIOFX_CUDA=1 AUDIOFX_EXPECT_CUDA=1 AUDIOFX_PTXAS_VERBOSE=1
export PYTHONUNBUFFERED=1
mkdir -p build
BUILD_LOG=build/gpu_check_build.log

index_answers() {
  "${PYTHON:-python3}" - <<'PY' 2>/dev/null
import os, sys, urllib.request
url = os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple/"
try:
    urllib.request.urlopen(url, timeout=5)
except Exception:
    sys.exit(1)
PY
}

# ---- build ----------------------------------------------------------------------------------
if [ -x .venv/bin/python ] || index_answers; then
  if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import audiofx" 2>/dev/null; then
    echo "gpu_check: scripts/install.sh with MAX_JOBS=$jobs"
    AUDIOFX_BUILD_LOG=$BUILD_LOG bash scripts/install.sh || { stamp "install FAILED"; exit 1; }
  fi
  PY=$PWD/.venv/bin/python
else
  PY=$(command -v "${PYTHON:-python3}")
  echo "gpu_check: no package index reachable: building in place against $PY"
  if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/gpu_check_site \
      .whl/*.whl || status=1
    export PYTHONPATH=/tmp/gpu_check_site
  fi
  export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
  # Only this GPU's architecture (half the nvcc time of the default list), unless set.
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ] && arch=$("$PY" -c \
      "import torch; print('%d.%d' % torch.cuda.get_device_capability())"); then
    export TORCH_CUDA_ARCH_LIST=$arch
  fi
  if ! "$PY" setup.py build_ext --inplace >"$BUILD_LOG" 2>&1; then
    tail -n 60 "$BUILD_LOG"
    stamp "build FAILED (log: $BUILD_LOG)"
    exit 1
  fi
fi
stamp "build done"
"$PY" - <<'PY' || { stamp "the CUDA kernels are missing"; exit 1; }
import sys, torch, audiofx
from audiofx import _ops
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "NONE"
built = _ops.built_with_cuda()
print(f"gpu_check: audiofx from {audiofx.__file__}; torch {torch.__version__} (CUDA "
      f"{torch.version.cuda}); GPU {gpu}; CUDA kernels {'built' if built else 'NOT BUILT'}; "
      f"CPU kernels {_ops.cpu_isa()}")
sys.exit(0 if gpu != "NONE" and built else 1)
PY
if grep -q "ptxas info" "$BUILD_LOG" 2>/dev/null; then
  grep -E "ptxas info|bytes stack frame" "$BUILD_LOG" | sed 's/^[[:space:]]*//' \
    | { command -v c++filt >/dev/null && c++filt || cat; } >build/ptxas.txt
  [ -n "$OUT_DIR" ] && cp build/ptxas.txt "$OUT_DIR/ptxas.txt"
  echo "gpu_check: ptxas: $(grep -c "Compiling entry" build/ptxas.txt) kernel compilations;" \
    "with spills (none listed: none):"
  awk '/Compiling entry function/ { fn = $0; sub(/.*function /, "", fn) }
       /bytes spill stores/ { if (match($0, /[1-9][0-9]* bytes spill (stores|loads)/))
                                print "  " fn ": " $0 }' build/ptxas.txt | head -n 20
fi

# ---- CUDA tests -----------------------------------------------------------------------------
# Every test marked cuda (about 1,500 small parity cases); files whose imports fail (a missing
# test tool) are reported as errors and the others still run.
if [ $# -gt 0 ]; then
  test_args=("$@")
else
  test_args=(-m cuda tests)
fi
stamp "CUDA tests: pytest ${test_args[*]}"
timeout 200 "$PY" -m pytest -q -p no:cacheprovider --continue-on-collection-errors --durations=8 \
  -rfE "${test_args[@]}" || { status=1; stamp "CUDA tests FAILED (or timed out)"; }
stamp "CUDA tests done"

# ---- the report's CUDA sections ---------------------------------------------------------------
# Exit status 1 = a target missed (the figures are still written); anything else = it broke.
report=build/gpu_report.md
rm -f "$report"
stamp "report: CUDA section, geometry and lengths tables on CUDA"
timeout 150 "$PY" -m benchmarks.report --only cuda,geometry,lengths --devices cuda --repeats 5 \
  --no-librosa --write-results "$report" >/dev/null
rc=$?
if [ -f "$report" ] && [ $rc -le 1 ]; then
  cat "$report"
  [ -n "$OUT_DIR" ] && cp "$report" "$OUT_DIR/gpu_report.md"
  [ $rc -eq 1 ] && echo "gpu_check: the report ran; some CUDA targets missed (see 'holds' above)"
else
  echo "gpu_check: the report failed (exit status $rc)"
  status=1
fi
verdict=$([ $status -eq 0 ] && echo "build, tests and report ran" || echo FAILED)
stamp "done (exit status $status: $verdict)"
exit $status

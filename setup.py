"""Build of audiofx's op library `audiofx._C` (CPU kernels always, CUDA kernels when possible).

Switches (environment):
  AUDIOFX_CUDA=0|1       skip the CUDA kernels / make their absence an error (default: build them
                         when torch has CUDA and nvcc is found)
  TORCH_CUDA_ARCH_LIST   CUDA architectures (default "8.0;9.0+PTX": Ampere, Hopper, plus PTX)
  CUDA_HOME              the CUDA toolkit root (default: found from nvcc or /usr/local/cuda*)
  AUDIOFX_PTXAS_VERBOSE=1  print ptxas' register/spill report for every kernel
  MAX_JOBS               parallel compile jobs (ninja)
"""
import glob
import importlib.util
import os
import shutil
import sys
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent


def _has_cuda_headers(root):
    return root is not None and (Path(root) / "include" / "cuda_runtime.h").is_file()


def find_cuda_home():
    """The CUDA toolkit root: $CUDA_HOME/$CUDA_PATH if set, else the folder above the real nvcc.

    `nvcc` on PATH may be a wrapper script (as on our dev machines), whose grandparent holds no
    headers, so candidates are checked for include/cuda_runtime.h rather than trusted.
    """
    for var in ("CUDA_HOME", "CUDA_PATH"):
        if os.environ.get(var):
            return os.environ[var]
    candidates = []
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(Path(os.path.realpath(nvcc)).parent.parent)
    candidates.append(Path("/usr/local/cuda"))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/local/cuda-*"), reverse=True)]
    for c in candidates:
        if _has_cuda_headers(c) and (c / "bin" / "nvcc").exists():
            return str(c)
    return None


def pip_nvidia_include_dirs():
    """Include dirs of the pip `nvidia-*` packages (cusparse.h, cublas_v2.h... for CUDA 13 under
    nvidia/cu13/include) that torch's CUDA headers include."""
    spec = importlib.util.find_spec("nvidia")
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for base in spec.submodule_search_locations:
        dirs += sorted(glob.glob(os.path.join(base, "cu*", "include")))
        dirs += sorted(glob.glob(os.path.join(base, "*", "include")))
    seen, out = set(), []
    for d in dirs:
        if d not in seen and os.path.isdir(d):
            seen.add(d)
            out.append(d)
    return out


# torch.utils.cpp_extension reads CUDA_HOME once, at import: settle it first.
_cuda_home = find_cuda_home()
if _cuda_home and not os.environ.get("CUDA_HOME"):
    os.environ["CUDA_HOME"] = _cuda_home
os.environ.setdefault("TORCH_CUDA_ARCH_LIST", "8.0;9.0+PTX")

import torch  # noqa: E402
from torch.utils.cpp_extension import BuildExtension, CppExtension, CUDAExtension  # noqa: E402

_switch = os.environ.get("AUDIOFX_CUDA", "").strip()
if _switch not in ("", "0", "1"):
    sys.exit(f"setup.py: AUDIOFX_CUDA must be 0 or 1, got {_switch!r}")
_cuda_possible = torch.version.cuda is not None and _has_cuda_headers(_cuda_home)
if _switch == "1" and not _cuda_possible:
    sys.exit(
        "setup.py: AUDIOFX_CUDA=1 but the CUDA kernels cannot be built: "
        f"torch.version.cuda={torch.version.cuda}, CUDA toolkit root={_cuda_home} "
        "(needs include/cuda_runtime.h and bin/nvcc; set CUDA_HOME)"
    )
WITH_CUDA = _cuda_possible and _switch != "0"

sources = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc").glob("*.cpp"))
sources += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cpu").glob("*.cpp"))
if WITH_CUDA:
    sources += sorted(str(p.relative_to(ROOT)) for p in (ROOT / "csrc" / "cuda").glob("*.cu"))

# -fopenmp, not only -fopenmp-simd: at::parallel_for is a header template (ATen/ParallelOpenMP.h,
# `#pragma omp parallel`) compiled into this library, so without it every kernel's
# at::parallel_for runs on the calling thread. libgomp resolves to the one torch already loaded.
cxx_flags = ["-O3", "-fopenmp", "-DNDEBUG"]
nvcc_flags = ["-O3", "-DNDEBUG", "--expt-relaxed-constexpr", "-lineinfo"]
if os.environ.get("AUDIOFX_PTXAS_VERBOSE") == "1":
    nvcc_flags.append("-Xptxas=-v")
include_dirs = [str(ROOT / "csrc")]
if WITH_CUDA:
    include_dirs += pip_nvidia_include_dirs()

print(
    "audiofx build: "
    f"torch {torch.__version__} (cuda {torch.version.cuda}), "
    f"CUDA kernels: {'yes' if WITH_CUDA else 'no'}"
    + (f", CUDA_HOME={_cuda_home}, TORCH_CUDA_ARCH_LIST={os.environ['TORCH_CUDA_ARCH_LIST']}"
       if WITH_CUDA else "")
    + f", {len(sources)} sources",
    flush=True,
)

Extension = CUDAExtension if WITH_CUDA else CppExtension
ext = Extension(
    name="audiofx._C",
    sources=sources,
    include_dirs=include_dirs,
    extra_compile_args={"cxx": cxx_flags, "nvcc": nvcc_flags} if WITH_CUDA else {"cxx": cxx_flags},
    define_macros=[("AUDIOFX_WITH_CUDA", "1")] if WITH_CUDA else [],
    extra_link_args=["-fopenmp"],
)

setup(
    packages=find_packages(include=["audiofx", "audiofx.*"]),
    ext_modules=[ext],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)

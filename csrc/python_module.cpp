// Makes the op library importable as `audiofx._C` (setup.py builds it as a Python extension); the
// ops themselves register through TORCH_LIBRARY when the library loads. No pybind11 needed.
#include <Python.h>

namespace audiofx {
const char* cpu_isa_name();  // csrc/cpu/frame_reduce_kernel.cpp
}

namespace {
PyObject* cpu_isa(PyObject* /*self*/, PyObject* /*args*/) {
  return PyUnicode_FromString(audiofx::cpu_isa_name());
}

PyMethodDef methods[] = {
    {"cpu_isa", cpu_isa, METH_NOARGS,
     "Instruction set of the float32 CPU frame kernels: 'avx512', 'avx2' or 'baseline'."},
    {nullptr, nullptr, 0, nullptr}};
}  // namespace

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, methods};
  return PyModule_Create(&module_def);
}
}

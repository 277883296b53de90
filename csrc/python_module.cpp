// Makes the op library importable as `audiofx._C` (setup.py builds it as a Python extension); the
// ops themselves register through TORCH_LIBRARY when the library loads. No pybind11 needed.
#include <Python.h>

extern "C" {
PyMODINIT_FUNC PyInit__C(void) {
  static struct PyModuleDef module_def = {PyModuleDef_HEAD_INIT, "_C", nullptr, -1, nullptr};
  return PyModule_Create(&module_def);
}
}

// Op schemas, defined once for every device (kernels register in csrc/cpu and csrc/cuda).
#include <torch/library.h>

TORCH_LIBRARY(audiofx, m) {
  m.def("frame(Tensor x, int frame_length, int hop_length, bool center, str pad_mode) -> Tensor");
  m.def(
      "amplitude_envelope(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "bool absolute) -> Tensor");
  m.def("rms(Tensor x, int frame_length, int hop_length, bool center, str pad_mode) -> Tensor");
  m.def(
      "zero_crossing_rate(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "float threshold, bool zero_pos) -> Tensor");
  m.def(
      "frame_features(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "str zcr_pad_mode, bool absolute, float threshold, bool zero_pos) -> (Tensor, Tensor, "
      "Tensor)");
}

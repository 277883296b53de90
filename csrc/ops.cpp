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
  m.def(
      "stft_frames(Tensor x, Tensor window, int n_fft, int hop_length, bool center, str pad_mode) "
      "-> Tensor");
  m.def(
      "spectral_stats(Tensor S, Tensor? freq, float bin_hz, Tensor? centroid, float p, bool norm) "
      "-> (Tensor, Tensor)");
  m.def(
      "spectral_features(Tensor x, Tensor window, int n_fft, int hop_length, bool center, "
      "str pad_mode, Tensor? freq, float bin_hz, float p, bool norm, int chunk_frames=0) -> "
      "(Tensor, Tensor)");
  // Backward ops (csrc/frame_backward_ops.h): the adjoint of `frame` (the gradient of frame,
  // stft_frames and rms) and the sample of each frame's maximum (the amplitude envelope's).
  m.def(
      "overlap_add(Tensor frames, SymInt length, int frame_length, int hop_length, bool center, "
      "str pad_mode) -> Tensor");
  m.def(
      "frame_argmax(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "bool absolute) -> Tensor");
}

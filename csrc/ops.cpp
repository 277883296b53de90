// Op schemas, defined once for every device (kernels register in csrc/cpu and csrc/cuda).
#include <torch/library.h>

TORCH_LIBRARY(audiofx, m) {
  m.def(
      "frame(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "Tensor? lengths=None) -> Tensor");
  m.def(
      "amplitude_envelope(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "bool absolute, Tensor? lengths=None) -> Tensor");
  m.def(
      "rms(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "Tensor? lengths=None) -> Tensor");
  m.def(
      "zero_crossing_rate(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "float threshold, bool zero_pos, Tensor? lengths=None) -> Tensor");
  m.def(
      "frame_features(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "str zcr_pad_mode, bool absolute, float threshold, bool zero_pos, Tensor? lengths=None) -> "
      "(Tensor, Tensor, Tensor)");
  m.def(
      "stft_frames(Tensor x, Tensor window, int n_fft, int hop_length, bool center, str pad_mode, "
      "Tensor? lengths=None) -> Tensor");
  m.def(
      "spectral_stats(Tensor S, Tensor? freq, float bin_hz, Tensor? centroid, float p, bool norm) "
      "-> (Tensor, Tensor)");
  m.def(
      "spectral_features(Tensor x, Tensor window, int n_fft, int hop_length, bool center, "
      "str pad_mode, Tensor? freq, float bin_hz, float p, bool norm, int chunk_frames=0, "
      "Tensor? lengths=None) -> (Tensor, Tensor)");
  // Every frame-level op takes `lengths` (int64, one per row, on x's device, or None): row r is
  // framed as x[r, :lengths[r]] alone and its frames past its own count are zero (csrc/framing.h
  // FrameSpec::lengths). Backward ops (csrc/frame_backward_ops.h): the adjoint of `frame` (the
  // gradient of frame, stft_frames and rms) and the sample of each frame's maximum (the amplitude
  // envelope's).
  m.def(
      "overlap_add(Tensor frames, SymInt length, int frame_length, int hop_length, bool center, "
      "str pad_mode, Tensor? lengths=None) -> Tensor");
  m.def(
      "frame_argmax(Tensor x, int frame_length, int hop_length, bool center, str pad_mode, "
      "bool absolute, Tensor? lengths=None) -> Tensor");
  // The gradient w.r.t. x of rms (grad_rms, given the forward's rms), of the amplitude envelope
  // (grad_envelope) and of frame_features (both), in one pass over x
  // (csrc/frame_reduce_backward_ops.h).
  m.def(
      "frame_features_backward(Tensor x, Tensor? rms, Tensor? grad_rms, Tensor? grad_envelope, "
      "int frame_length, int hop_length, bool center, str pad_mode, bool absolute, "
      "Tensor? lengths=None) -> Tensor");
  // Backward ops of the spectral ops (csrc/spectral_backward_ops.h): spectral_features' gradient
  // w.r.t. x (and the float64 window when window_grad; else a (0,) tensor), chunked as the
  // forward; and the adjoint of stft_frames in x, the window multiplied inside the overlap-add.
  m.def(
      "spectral_features_backward(Tensor x, Tensor window, int n_fft, int hop_length, "
      "bool center, str pad_mode, Tensor? freq, float bin_hz, float p, bool norm, "
      "Tensor? grad_centroid, Tensor? grad_bandwidth, bool window_grad, int chunk_frames=0, "
      "Tensor? lengths=None) -> (Tensor, Tensor)");
  // The STFT in one op (the layout of librosa and torch.stft, complex (..., n_fft//2 + 1,
  // n_frames)), so that its backward is stft_backward: per chunk of frames, the spectrum's
  // gradient inverse-transformed (at::fft_irfft) and overlap-added through the window.
  m.def(
      "stft(Tensor x, Tensor window, int n_fft, int hop_length, bool center, str pad_mode, "
      "int chunk_frames=0, Tensor? lengths=None) -> Tensor");
  m.def(
      "stft_backward(Tensor grad, Tensor x, Tensor window, int n_fft, int hop_length, "
      "bool center, str pad_mode, bool window_grad, int chunk_frames=0, Tensor? lengths=None) "
      "-> (Tensor, Tensor)");
  m.def(
      "windowed_overlap_add(Tensor frames, Tensor window, SymInt length, int frame_length, "
      "int hop_length, bool center, str pad_mode, Tensor? lengths=None) -> Tensor");
}

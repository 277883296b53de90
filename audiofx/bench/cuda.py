"""The CUDA section: frame features against a device-to-device copy (achieved GB/s) and the
spectral statistics against cuFFT alone on the same frames, on the §6 workloads."""
from __future__ import annotations

from typing import List, Optional

import torch

from .formatting import fmt_ms
from .implementations import stft_frames
from .timing import synced, time_interleaved
from .workloads import FRAME_LENGTH, HOP_LENGTH, SR, WORKLOADS, make_signal, workload_seed


def run_cuda(repeats: int, log=print) -> Optional[List[dict]]:
    """On a CUDA device: frame features vs a device-to-device copy (achieved GB/s: bytes read by
    the kernel per second; for the copy, bytes read + written), and centroid+bandwidth vs cuFFT
    alone on the same frames. None without a GPU."""
    if not torch.cuda.is_available():
        return None
    import audiofx

    dev = torch.device("cuda")
    rows = []
    for wname, shape in WORKLOADS.items():
        x = make_signal(shape, seed=workload_seed(shape)).to(dev)
        frames = stft_frames(x)
        dst = torch.empty_like(x)
        cases = {
            "frame_features": lambda: audiofx.frame_features(x, FRAME_LENGTH, HOP_LENGTH),
            "copy_ (device to device)": lambda: dst.copy_(x),
            "centroid+bandwidth": lambda: audiofx.spectral_features(
                x, sr=SR, n_fft=FRAME_LENGTH, hop_length=HOP_LENGTH),
            "rfft of the frames (cuFFT)": lambda: torch.fft.rfft(frames),
        }
        sec, _ = time_interleaved({k: synced(f) for k, f in cases.items()}, repeats)
        nbytes = x.numel() * x.element_size()
        gbs = {
            "frame_features": nbytes / sec["frame_features"] / 1e9,
            "copy_ (device to device)": 2 * nbytes / sec["copy_ (device to device)"] / 1e9,
        }
        rows.append({"workload": wname, "seconds": sec, "gbs": gbs,
                     "device": torch.cuda.get_device_name(dev)})
        log(f"  [cuda {wname}] " + ", ".join(f"{k} {v * 1e3:.3f} ms" for k, v in sec.items()))
    return rows


def cuda_lines(rows: Optional[List[dict]]) -> List[str]:
    if rows is None:
        return ["No CUDA device in this run: the CUDA kernels were not timed (no GPU figure is "
                "claimed). Where a GPU exists this section gives achieved GB/s of the frame "
                "features against a device-to-device `copy_`, and centroid+bandwidth against "
                "cuFFT alone on the same frames."]
    lines = [f"Device: {rows[0]['device']}", "",
             "| workload | frame_features ms | GB/s read | copy_ ms | copy GB/s (read+write) "
             "| centroid+bandwidth ms | rfft (cuFFT) ms | cb / rfft |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, g = r["seconds"], r["gbs"]
        lines.append(
            f"| {r['workload']} | {fmt_ms(s['frame_features'])} | {g['frame_features']:.0f} | "
            f"{fmt_ms(s['copy_ (device to device)'])} | {g['copy_ (device to device)']:.0f} | "
            f"{fmt_ms(s['centroid+bandwidth'])} | {fmt_ms(s['rfft of the frames (cuFFT)'])} | "
            f"{s['centroid+bandwidth'] / s['rfft of the frames (cuFFT)']:.2f}x |")
    return lines

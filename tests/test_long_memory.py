"""Memory on long recordings (issue 14, item 4): the spectrogram-based functions on one long
signal, measured in a subprocess (RSS high-water mark, as ``audiofx.bench``), and the block-wise
path against the one-shot one.

The issue's bound is ``1.5 x output + 256 MiB`` on a 2**26-sample signal (the report's
``memory_long`` table: ``audiofx bench --only memory_long``). Here the same bound scaled to a
2**22-sample signal, 16x shorter: ``1.5 x output + 16 MiB``. Before the fix these calls took
~7 GiB on 2**26 samples, i.e. ~450 MiB on 2**22."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

import audiofx
from audiofx import _ops
from audiofx.functional import spectral as FS
from audiofx.functional import spectrogram_chunks as chunks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import ctypes, json, sys
import torch
torch.set_num_threads(1)
from audiofx.bench.long_memory import LONG_FUNCTIONS, _call, long_signal
from audiofx.bench.memory import output_bytes, rss_peak_of
libc = ctypes.CDLL("libc.so.6")
# glibc keeps freed heap memory for reuse, and raises its mmap threshold as large blocks are
# freed: with several functions in one process, what one call retained would distort the next
# one's high-water mark. A fixed threshold (M_MMAP_THRESHOLD = -3) sends every block of 1 MiB
# or more straight back to the system when freed, as for the first call of a fresh process.
libc.mallopt(-3, 1 << 20)
y = long_signal(1 << 22)
for name in LONG_FUNCTIONS:
    _call(name, "audiofx", y[:22050].copy())()
out = {}
for name in LONG_FUNCTIONS:
    libc.malloc_trim(0)  # freed memory back to the system: each call's peak is its own
    peak, res = rss_peak_of(_call(name, "audiofx", y))
    out[name] = (peak, output_bytes(res) / 2**20)
    del res
print(json.dumps(out))
"""


def test_peak_memory_of_one_long_signal():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, env=env,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    peaks = json.loads(p.stdout.strip().splitlines()[-1])
    assert set(peaks) == {"melspectrogram", "mfcc", "spectral_rolloff", "spectral_flatness",
                          "spectral_contrast", "stft"}
    over = {name: (f"{peak:.1f} MiB peak > 1.5 x {out:.1f} MiB + 16 MiB")
            for name, (peak, out) in peaks.items() if peak > 1.5 * out + 16}
    assert not over, over


_FRAMINGS = [(True, "constant"), (True, "edge"), (True, "reflect"), (True, "wrap"),
             (False, "wrap"), (False, None)]


@pytest.mark.parametrize("center, pad_mode", _FRAMINGS)
def test_blocks_equal_the_whole_spectrogram(center, pad_mode):
    """Blocks of every size (a few frames, stretches of one row, whole rows): the same
    magnitudes as the frames of the whole signal, at both ends (padding) and inside."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2049, generator=g)
    _, (n, H, mode, w), _, _ = FS.spectral_input(x, None, 22050, 256, 100, None, "hann", center,
                                                 pad_mode, None)
    whole = FS.frame_spectrum(x, w, n, H, center, mode).abs().transpose(-1, -2)
    for budget in (n * 8 * 3, n * 8 * 7, n * 8 * 21 * 2, 1 << 30):
        got = chunks.map_spectrogram(x, w, n, H, center, mode, 1.0, lambda S: S,
                                     out_dtype=torch.float64, budget=budget)
        torch.testing.assert_close(got, whole, rtol=1e-14, atol=1e-12)
    # The STFT op in chunks of a few frames (stretches of one row, across rows).
    nf = int(_ops.n_frames(2049, n, H, center, mode))
    got = _ops.ops.stft(x, w.float(), n, H, center, mode, 5, None)
    want = torch.fft.rfft(_ops.ops.stft_frames(x, w.float(), n, H, center, mode, None), dim=-1)
    assert got.shape == (3, n // 2 + 1, nf)
    torch.testing.assert_close(got, want.transpose(-1, -2), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("name", ["melspectrogram", "mfcc", "spectral_rolloff",
                                  "spectral_flatness", "spectral_contrast"])
def test_block_path_equals_the_one_shot_path(monkeypatch, name):
    """Each function from x, blocks of a few frames against the one-shot path (taken under
    autograd)."""
    monkeypatch.setattr(chunks, "block_budget", lambda total: 2048 * 8 * 5)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 30000, generator=g, dtype=torch.float64)
    fn = getattr(audiofx, name)
    got = fn(x)
    with torch.enable_grad():
        want = fn(x.clone().requires_grad_()).detach()
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-9)

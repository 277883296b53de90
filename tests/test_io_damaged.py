"""What users' damaged and oddly named files do to :mod:`audiofx.io` (issue 14, items 1 and 2):
a file name that is not UTF-8, files cut mid-data in every format whose header declares a
length (float and 24-bit WAV, AIFF, AU, FLAC), a header declaring 2**40 frames, and a
hypothesis fuzz of the decoders' error paths: every damaged file either decodes to what its
header declares or raises :class:`audiofx.io.AudioDecodeError`, nothing else."""
from __future__ import annotations

import os
import struct

import numpy as np
import pytest
import soundfile
from hypothesis import given, settings
from hypothesis import strategies as st

from audiofx import io as aio
from recordings import sox

SR = 8000


def _tone(n=SR // 2, channels=1):
    t = np.arange(n) / SR
    y = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.stack([y, -y], axis=1)[:, :channels].astype(np.float32)


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Small whole files of each format: {name: (path, frames)}."""
    d = tmp_path_factory.mktemp("damaged_sources")
    out = {}
    for name, fmt, subtype, ch in (("float.wav", "WAV", "FLOAT", 1),
                                   ("pcm16.wav", "WAV", "PCM_16", 1),
                                   ("pcm24_stereo.wav", "WAV", "PCM_24", 2),
                                   ("double.wav", "WAV", "DOUBLE", 1),
                                   ("ulaw.wav", "WAV", "ULAW", 1),
                                   ("pcm16.aiff", "AIFF", "PCM_16", 1),
                                   ("float.au", "AU", "FLOAT", 1),
                                   ("pcm16.flac", "FLAC", "PCM_16", 2)):
        path = str(d / name)
        soundfile.write(path, _tone(channels=ch), SR, format=fmt, subtype=subtype)
        out[name] = (path, SR // 2)
    wav = out["pcm16.wav"][0]
    for name in ("tone.ogg", "tone.mp3"):  # formats that declare no length
        path = str(d / name)
        sox(wav, path)
        out[name] = (path, None)
    return out


def _cut(src: str, dst: str, nbytes: int) -> str:
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[:nbytes])
    return dst


def test_latin1_file_name_decodes(tmp_path, sources):
    """A name holding the Latin-1 byte 0xE9 (not UTF-8): made through a bytes path, found by
    listing the folder, decoded under the name os.fsdecode gives it."""
    folder = os.fsencode(str(tmp_path))
    raw = os.path.join(folder, b"caf\xe9 cr\xe8me.wav")
    with open(sources["pcm16.wav"][0], "rb") as f, open(raw, "wb") as g:
        g.write(f.read())
    (name,) = os.listdir(str(tmp_path))
    assert "\udce9" in name  # the undecodable byte, as os.fsdecode keeps it
    path = os.path.join(str(tmp_path), name)
    y, sr = aio.load(path)
    ref, _ = aio.load(sources["pcm16.wav"][0])
    assert sr == SR and np.array_equal(y, ref)
    assert aio.info(path).frames == SR // 2
    assert aio.info(raw).frames == SR // 2  # a bytes path works as well


def test_float_wav_cut_mid_data_is_truncated(tmp_path, sources):
    """The user's file: a 32-bit float WAV whose header declares 22050 frames, cut after
    11015 (libsndfile alone would decode the 11015 without a word)."""
    full = str(tmp_path / "float_22050.wav")
    y = np.random.default_rng(0).uniform(-0.5, 0.5, 22050).astype(np.float32)
    soundfile.write(full, y, 22050, subtype="FLOAT")
    with open(full, "rb") as f:
        start = f.read().index(b"data") + 8  # the samples follow the data chunk's header
    cut = _cut(full, str(tmp_path / "cut.wav"), start + 4 * 11015)
    assert soundfile.info(cut).frames == 11015  # what libsndfile believes
    with pytest.raises(aio.AudioDecodeError) as e:
        aio.load(cut)
    assert e.value.reason == ("truncated: the header declares 22050 frames, the file holds "
                              "11015")
    assert e.value.path == cut
    # max_seconds within what is there reads fine; beyond it, the cut is reported.
    assert aio.load(cut, max_seconds=0.4)[0].size == round(0.4 * 22050)
    with pytest.raises(aio.AudioDecodeError, match="truncated"):
        aio.load(cut, max_seconds=0.6)


@pytest.mark.parametrize("name", ["float.wav", "pcm24_stereo.wav", "double.wav", "ulaw.wav",
                                  "pcm16.aiff", "float.au", "pcm16.flac"])
def test_every_declared_length_format_cut_mid_data(tmp_path, sources, name):
    path, frames = sources[name]
    size = os.path.getsize(path)
    cut = _cut(path, str(tmp_path / ("cut_" + name)), size - size // 3)
    with pytest.raises(aio.AudioDecodeError, match="truncated"):
        aio.load(cut)
    y, _ = aio.load(path)
    assert y.shape == (frames,)


def test_header_declaring_2_40_frames_reads_what_is_there(tmp_path, sources):
    """A FLAC whose STREAMINFO claims 2**40 frames: reported as truncated, without allocating
    what it claims."""
    path = str(tmp_path / "huge.flac")
    with open(sources["pcm16.flac"][0], "rb") as f:
        data = bytearray(f.read())
    # STREAMINFO: 'fLaC', 4-byte block header, then 10 bytes, then 4 bits of channels/bps and
    # 36 bits of total samples (bytes 21..25 of the file).
    total = 1 << 40
    packed = int.from_bytes(data[21:26], "big")
    packed = (packed & ~((1 << 36) - 1)) | (total & ((1 << 36) - 1))
    data[21:26] = packed.to_bytes(5, "big")
    with open(path, "wb") as f:
        f.write(data)
    with pytest.raises(aio.AudioDecodeError, match="truncated"):
        aio.load(path)


def test_wav_declared_frames_parser(tmp_path, sources):
    from audiofx._audio_header import declared_frames

    for name, (path, frames) in sources.items():
        want = None if name.endswith((".flac", ".ogg", ".mp3")) else frames
        assert declared_frames(path) == want, name
    # A streaming writer's placeholder size is not a declaration.
    with open(sources["pcm16.wav"][0], "rb") as f:
        data = bytearray(f.read())
    at = data.index(b"data") + 4
    data[at:at + 4] = struct.pack("<I", 0xFFFFFFFF)
    p = str(tmp_path / "stream.wav")
    with open(p, "wb") as f:
        f.write(data)
    assert declared_frames(p) is None
    assert declared_frames(str(tmp_path)) is None  # a folder, not a file


_MUTATIONS = st.one_of(
    st.tuples(st.just("cut"), st.floats(0.0, 1.0)),
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)),
                                        min_size=1, max_size=6)),
    st.tuples(st.just("append"), st.binary(min_size=1, max_size=64)),
)


@settings(max_examples=120)
@given(name=st.sampled_from(["float.wav", "pcm16.wav", "pcm24_stereo.wav", "ulaw.wav",
                             "pcm16.aiff", "float.au", "pcm16.flac", "tone.ogg", "tone.mp3"]),
       mutation=_MUTATIONS)
def test_fuzz_damaged_files(tmp_path_factory, sources, name, mutation):
    """Cut anywhere, bytes overwritten anywhere (header included), garbage appended: ``load``
    returns finite float32 samples or raises AudioDecodeError; a cut of a format that declares
    its length never decodes to fewer frames than the whole file without an error."""
    src, frames = sources[name]
    with open(src, "rb") as f:
        data = bytearray(f.read())
    kind, arg = mutation
    if kind == "cut":
        data = data[:int(arg * len(data))]
    elif kind == "flip":
        for where, value in arg:
            data[min(len(data) - 1, int(where * len(data)))] = value
    else:
        data += arg
    path = str(tmp_path_factory.mktemp("fuzz") / ("x_" + name))
    with open(path, "wb") as f:
        f.write(bytes(data))
    try:
        y, sr = aio.load(path)
    except aio.AudioDecodeError as e:
        assert e.path == path and e.reason
        return
    assert y.dtype == np.float32 and y.ndim == 1 and y.size > 0 and sr > 0
    assert np.isfinite(y).all()
    if kind == "cut" and frames is not None:
        assert y.size == frames, "a cut file decoded without an error"

"""How many frames an audio file's header declares, read from the header bytes themselves.

libsndfile sizes WAV, AIFF and AU files by what the file holds, not by what the header says, so a
file cut short (a copy interrupted, a download stopped) decodes without an error and with part of
its audio. :func:`declared_frames` reads the declared size of the sample data (WAV ``data`` chunk
or RF64 ``ds64``, AIFF ``COMM`` frame count, AU header data size) so that :func:`audiofx.io.load`
can compare it with what was decoded. FLAC declares its count in STREAMINFO, which libsndfile
reports itself; MP3 and Ogg streams declare none.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, Optional

__all__ = ["declared_frames"]

# WAV format tags whose frames are block_align bytes each: PCM, IEEE float, A-law, mu-law.
_WAV_FIXED_SIZE_TAGS = (0x0001, 0x0003, 0x0006, 0x0007)
_WAV_EXTENSIBLE = 0xFFFE
# AU encodings -> bytes per sample: mu-law, 8/16/24/32-bit PCM, float, double, A-law.
_AU_SAMPLE_BYTES = {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 4, 7: 8, 27: 1}
# Sizes a streaming writer leaves when it does not know the length yet: not a declaration.
_UNKNOWN_32 = (0, 0xFFFFFFFF)
_MAX_CHUNKS = 4096


def declared_frames(path) -> Optional[int]:
    """Frames per channel that the header of the WAV (RIFF/RF64), AIFF/AIFC or AU file at
    ``path`` declares, or None where it declares no usable count (another format, a
    compressed WAV encoding, a streaming placeholder size, or a header too damaged to read:
    libsndfile then has the last word)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(12)
            if len(magic) < 12:
                return None
            if magic[:4] in (b"RIFF", b"RF64") and magic[8:12] == b"WAVE":
                return _wav(f, magic[:4] == b"RF64")
            if magic[:4] == b"FORM" and magic[8:12] in (b"AIFF", b"AIFC"):
                return _aiff(f)
            if magic[:4] == b".snd":
                return _au(magic, f)
    except (OSError, struct.error):
        return None
    return None


def _chunks(f: BinaryIO, endian: str):
    """(id, size, data offset) of each chunk after the 12-byte form header; chunks are padded
    to an even size."""
    pos = 12
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        head = f.read(8)
        if len(head) < 8:
            return
        cid, size = head[:4], struct.unpack(endian + "I", head[4:])[0]
        yield cid, size, pos + 8
        pos += 8 + size + (size & 1)


def _wav(f: BinaryIO, rf64: bool) -> Optional[int]:
    block_align = tag = None
    data_size = None
    big_data = None
    for cid, size, at in _chunks(f, "<"):
        if cid == b"ds64" and rf64:
            f.seek(at)
            body = f.read(16)
            if len(body) == 16:
                big_data = struct.unpack("<QQ", body)[1]
        elif cid == b"fmt ":
            f.seek(at)
            body = f.read(min(size, 40))
            if len(body) < 16:
                return None
            tag, _, _, _, block_align = struct.unpack("<HHIIH", body[:14])
            if tag == _WAV_EXTENSIBLE:
                tag = struct.unpack("<H", body[24:26])[0] if len(body) >= 26 else None
        elif cid == b"data":
            data_size = big_data if rf64 and size == 0xFFFFFFFF else size
            break
    if data_size is None or tag not in _WAV_FIXED_SIZE_TAGS or not block_align:
        return None
    if data_size in _UNKNOWN_32 and not (rf64 and big_data):
        return None
    return data_size // block_align


def _aiff(f: BinaryIO) -> Optional[int]:
    for cid, size, at in _chunks(f, ">"):
        if cid == b"COMM":
            f.seek(at)
            body = f.read(6)
            if len(body) < 6:
                return None
            channels, frames = struct.unpack(">hI", body)
            return frames if channels > 0 else None
    return None


def _au(magic: bytes, f: BinaryIO) -> Optional[int]:
    f.seek(0)
    head = f.read(24)
    if len(head) < 24:
        return None
    _, _, data_size, encoding, _, channels = struct.unpack(">4sIIIII", head)
    width = _AU_SAMPLE_BYTES.get(encoding)
    if width is None or channels < 1 or data_size == 0xFFFFFFFF:
        return None
    return data_size // (width * channels)

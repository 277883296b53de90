r"""The manifest of ``audiofx extract``: one CSV row per attempt at a file, appended as it ends.

Format: a header, then rows of :data:`MANIFEST_FIELDS`, UTF-8, CSV-quoted where needed. Each row
is exactly one line, whatever the file names hold: in every field (in practice ``path``,
``reason`` and ``output``) a backslash is written ``\\``, a control character (newline,
carriage return, tab, ...) ``\xNN``, and each byte of a file name that is not valid UTF-8
(``os.fsdecode`` keeps such bytes as surrogates: Latin-1 names from old archives) ``\xNN`` as
well (``\xe9`` for the byte 0xE9); :func:`read_manifest` undoes it, so ``row["path"]`` is the
name ``os`` functions take.

One line per row is what makes a torn row detectable: a row cut by a kill, a power loss or a
full disk is a last line without its newline, or a line that does not read as a row (not UTF-8,
not CSV, a wrong field count, an unknown status). Readers skip such lines; a writer cuts a torn
tail off before it appends. Rows are appended with one ``write`` on a file opened ``O_APPEND``,
under an exclusive ``flock`` of the manifest, so that several writers (two jobs into one folder,
torchrun ranks merging their logs) interleave whole rows only, and a tail seen under the lock is
never a live writer's half row.
"""
from __future__ import annotations

import csv
import io as _stdio
import os
import re
from typing import Dict, Iterable, List, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: rows are still single appends
    fcntl = None

__all__ = ["MANIFEST_FIELDS", "STATUSES", "escape_text", "unescape_text", "format_row",
           "parse_line", "read_manifest", "ManifestLog", "append_missing_rows"]

#: Manifest columns. ``path`` is absolute, ``output`` relative to the output folder; a path may
#: have several rows (one per attempt, runs append): its last row is its state.
MANIFEST_FIELDS = ("path", "status", "reason", "duration_s", "sample_rate", "n_frames", "output")
#: The states a row can record.
STATUSES = ("ok", "failed", "skipped")
_HEADER = ",".join(MANIFEST_FIELDS)


def _escape_char(m: "re.Match") -> str:
    ch = m.group(0)
    if ch == "\\":
        return "\\\\"
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as os.fsdecode keeps it
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"  # another lone surrogate (not from a file name): kept readable


_NEEDS_ESCAPE = re.compile(r"[\\\x00-\x1f\x7f\ud800-\udfff]")
_ESCAPE_SEQ = re.compile(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


def escape_text(text: str) -> str:
    """``text`` as one line of valid UTF-8: backslash, control characters and undecodable file
    name bytes escaped (module docstring); :func:`unescape_text` is its inverse."""
    return _NEEDS_ESCAPE.sub(_escape_char, text)


def _unescape_seq(m: "re.Match") -> str:
    seq = m.group(1)
    if seq == "\\":
        return "\\"
    code = int(seq[1:], 16)
    if seq[0] == "x" and code >= 0x80:
        return chr(0xDC00 + code)  # back to the byte os.fsencode writes
    return chr(code)


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text`."""
    return _ESCAPE_SEQ.sub(_unescape_seq, text)


def format_row(row: dict) -> bytes:
    """One manifest line (UTF-8 bytes with its ``\\r\\n``) for ``row`` (missing fields empty)."""
    buf = _stdio.StringIO()
    values = [row.get(k, "") for k in MANIFEST_FIELDS]
    csv.writer(buf).writerow([escape_text("" if v is None else str(v)) for v in values])
    return buf.getvalue().encode("utf-8")


def parse_line(line: bytes) -> Optional[Dict[str, str]]:
    """The row held by one line of a manifest (without its newline), or None when the line is
    the header or does not read as a row (torn, garbage, another format)."""
    try:
        text = line.rstrip(b"\r").decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or text == _HEADER:
        return None
    try:
        fields = next(csv.reader([text], strict=True))
    except (csv.Error, StopIteration):
        return None
    if len(fields) != len(MANIFEST_FIELDS):
        return None
    row = dict(zip(MANIFEST_FIELDS, fields))
    if row["status"] not in STATUSES or not row["path"]:
        return None
    return {k: unescape_text(v) for k, v in row.items()}


def _lines(data: bytes) -> List[bytes]:
    """The complete lines of ``data``: a last line without its newline is torn."""
    lines = data.split(b"\n")
    return lines[:-1]  # "" after a final newline, or the torn piece


def read_manifest(path: str) -> List[dict]:
    """The rows of a manifest (``MANIFEST_FIELDS`` as keys, strings; ``path``, ``reason`` and
    ``output`` unescaped), in file order. Lines that are not rows are left out: the header, a
    last line without its newline (a run killed while writing it), and any line that does not
    read as a row (not UTF-8, not CSV, wrong field count, unknown status: a torn or damaged
    tail). A missing manifest has no rows.

    Raises:
        OSError: the manifest exists but cannot be read (the message names it).
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    rows = []
    for line in _lines(data):
        row = parse_line(line)
        if row is not None:
            rows.append(row)
    return rows


def _flock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _write_all(fd: int, data: bytes, path: str) -> None:
    view = memoryview(data)
    try:
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:  # a full disk: the message names the manifest
        raise OSError(e.errno, f"cannot write the manifest: {e.strerror}", path) from e


def _cut_torn_tail(fd: int) -> None:
    """Truncates the manifest open as ``fd`` after its last line that is a row or the header
    (the torn or unreadable tail a killed run or a damaged disk left)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return
    data = os.pread(fd, size, 0)
    keep = 0
    pos = 0
    for line in data.split(b"\n")[:-1]:
        pos += len(line) + 1
        text = line.rstrip(b"\r")
        if parse_line(line) is not None or text == _HEADER.encode():
            keep = pos
    if keep < size:
        os.ftruncate(fd, keep)


class ManifestLog:
    """Appends rows to a manifest, each with one ``write`` under the manifest's lock, so a
    killed run keeps every row of the files it finished and concurrent writers never mix
    their rows.

    Opening it cuts a torn or unreadable tail off (under the lock, where no live writer is
    half-way through a row, so the tail is a dead writer's) and writes the header into a new
    or empty manifest.

    Args:
        path: the manifest.
        repair: cut the torn tail (default); False appends after whatever is there.
    """

    def __init__(self, path: str, repair: bool = True):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            _flock(self._fd)
            try:
                if repair:
                    rw = os.open(path, os.O_RDWR)
                    try:
                        _cut_torn_tail(rw)
                    finally:
                        os.close(rw)
                if os.fstat(self._fd).st_size == 0:
                    _write_all(self._fd, format_row(dict(zip(MANIFEST_FIELDS, MANIFEST_FIELDS))),
                               path)
            finally:
                _unlock(self._fd)
        except BaseException:
            os.close(self._fd)
            raise

    def write(self, row: dict) -> None:
        """Appends ``row`` (a dict of :data:`MANIFEST_FIELDS`; missing ones empty)."""
        self.write_many([row])

    def write_many(self, rows: Iterable[dict]) -> None:
        data = b"".join(format_row(r) for r in rows)
        if not data:
            return
        _flock(self._fd)
        try:
            _write_all(self._fd, data, self.path)
        finally:
            _unlock(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> "ManifestLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _row_key(row: dict) -> tuple:
    return tuple(row.get(k, "") for k in MANIFEST_FIELDS)


def append_missing_rows(main: str, logs: Iterable[str]) -> None:
    """Appends to the manifest ``main`` the rows of the manifests ``logs`` (torchrun ranks'
    logs) that it does not hold yet (exact repeats, e.g. after a crash between a merge and the
    removal of the logs, are dropped), then removes the logs. Appending, not rewriting, so that
    another writer appending to ``main`` meanwhile loses nothing."""
    logs = list(logs)
    with ManifestLog(main) as log:
        seen = {_row_key(r) for r in read_manifest(main)}
        new = []
        for m in logs:
            for r in read_manifest(m):
                key = _row_key(r)
                if key not in seen:
                    seen.add(key)
                    new.append(r)
        log.write_many(new)
    for m in logs:
        os.unlink(m)

"""The output folder of a batch job (``audiofx extract``): checked before any work, shared safely
between writers, written atomically.

Several writers may use one folder at once (two jobs, a command-line run and a library call,
torchrun ranks): each holds a shared ``flock`` on ``DIR/.audiofx.lock`` while it runs, names its
temporary files uniquely (``mkstemp``) and renames each into place, so no writer ever sees or
removes another's temporary file. The clean-up of what a killed run left behind (temporary files,
a torn manifest tail, torchrun rank logs) is done only by a writer that can take the lock
exclusively, i.e. when no other writer is alive; a lock dies with its process, so this is exact
(on file systems where ``flock`` works: local ones; not every network file system).
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

from .io import display_path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one writer at a time is the user's duty
    fcntl = None

__all__ = ["OutputFolder", "atomic_savez", "TMP_PREFIX", "TMP_SUFFIX", "LOCK_NAME"]

TMP_PREFIX = ".afx-"
TMP_SUFFIX = ".tmp"
LOCK_NAME = ".audiofx.lock"



class OutputFolder:
    """An output folder, made if missing, checked to be a writable folder.

    Args:
        path: the folder (str, bytes or path-like).

    Raises:
        ValueError: ``path`` is an existing file, lies under a file, cannot be made, or is not
            writable; the message names it and says which.
    """

    def __init__(self, path):
        path = os.path.abspath(os.fsdecode(os.fspath(path)))
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"the output folder {display_path(path)} exists and is not a folder")
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as e:
            raise ValueError(f"cannot make the output folder {display_path(path)}: "
                             f"{e.strerror or e}") from e
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"the output folder {display_path(path)} is not writable")
        self.path = path
        self._lock_fd = -1
        #: Whether this writer had the folder to itself when it started (set by acquire()).
        self.sole = False

    def acquire(self) -> bool:
        """Registers this writer (a shared lock held until :meth:`release`); returns whether it
        is the only one, in which case the caller may clean up after killed runs (it holds the
        lock exclusively until :meth:`share`)."""
        if self._lock_fd >= 0:
            return self.sole
        fd = os.open(os.path.join(self.path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o666)
        self._lock_fd = fd
        if fcntl is None:  # pragma: no cover
            self.sole = True
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.sole = True
        except BlockingIOError:
            fcntl.flock(fd, fcntl.LOCK_SH)
            self.sole = False
        return self.sole

    def share(self) -> None:
        """After the clean-up: let other writers in (exclusive -> shared)."""
        if fcntl is not None and self._lock_fd >= 0 and self.sole:
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def remove_stale_temporaries(self) -> None:
        """Deletes the temporary outputs of killed runs (never counted as done). Only for the
        sole writer: another live writer's temporaries are not stale."""
        if not self.sole:
            return
        for root, _, files in os.walk(self.path):
            for f in files:
                if f.startswith(TMP_PREFIX) and f.endswith(TMP_SUFFIX):
                    try:
                        os.unlink(os.path.join(root, f))
                    except OSError:
                        pass

    def __enter__(self) -> "OutputFolder":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _umask() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022


def atomic_savez(path: str, arrays: dict) -> None:
    """``np.savez`` to a uniquely named temporary file in ``path``'s folder, then
    ``os.replace``: readers (and ``--resume``) see the whole file or none, and concurrent writers
    of one name each replace it whole (the last one wins). The file gets the permissions a
    plain ``open`` would give it (``mkstemp``'s are owner-only)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

"""Locks taken while vhdxray writes to an image.

Two locks, both released when the descriptor is closed:

- ``flock(LOCK_EX)`` on the whole file keeps a second vhdxray (or any flock user) out.
- An open-file-description (OFD) write lock on bytes 100..299, where QEMU keeps its image
  locks (QEMU's file-posix locking: permission bytes from 100, shared-permission bytes from
  200). If qemu-nbd, qemu-system or qemu-img has the image open, taking it fails, so we
  refuse; while we hold it, QEMU cannot open the image.

OFD locks (unlike classic POSIX locks) are not dropped when this process closes some other
descriptor of the same file, so re-reading the image while writing is safe. POSIX-only
calls are imported lazily so the core stays importable on Windows, where locking is left to
the operating system's sharing rules.
"""

from __future__ import annotations

import errno
import os
import struct

from vhdxray.core.fileio import open_regular
from vhdxray.core.format.layout import QEMU_LOCK_LENGTH, QEMU_LOCK_START


class LockUnavailable(Exception):
    """Another process holds the image; the message says which kind."""


def _ofd_write_lock(fd: int, start: int, length: int) -> None:
    import fcntl

    cmd = getattr(fcntl, "F_OFD_SETLK", None)
    if cmd is None:  # pragma: no cover - non-Linux POSIX: classic record locks
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, length, start, os.SEEK_SET)
        return
    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid;}
    # on Linux (64-bit off_t); l_pid must be 0 for OFD locks.
    lock = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
    fcntl.fcntl(fd, cmd, lock)


def lock_image(fd: int) -> None:
    """Take both locks on ``fd`` (opened read-write), or raise :class:`LockUnavailable`."""
    if os.name != "posix":  # pragma: no cover - Windows: the OS refuses shared opens itself
        return
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise LockUnavailable(
                "another program holds an exclusive lock on the image "
                "(another vhdxray, or a tool using flock)"
            ) from exc
        raise
    try:
        _ofd_write_lock(fd, QEMU_LOCK_START, QEMU_LOCK_LENGTH)
    except OSError as exc:
        fcntl.flock(fd, fcntl.LOCK_UN)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise LockUnavailable(
                "the image is in use by QEMU (qemu-nbd, qemu-system or qemu-img holds its "
                "image locks); stop it first"
            ) from exc
        raise


def image_in_use(path: str | os.PathLike[str]) -> str | None:
    """Why the image cannot be written now (another holder), or None. Takes and drops the
    locks on a fresh read-only descriptor; used to warn before asking for confirmation."""
    if os.name != "posix":  # pragma: no cover
        return None
    try:
        fd = open_regular(path, os.O_RDWR)
    except OSError:
        return None  # permission problems are reported when writing
    try:
        lock_image(fd)
    except LockUnavailable as exc:
        return str(exc)
    except OSError as exc:  # pragma: no cover - e.g. a filesystem without locks
        return f"the image cannot be locked here ({exc.strerror}); vhdxray will not write"
    finally:
        os.close(fd)
    return None

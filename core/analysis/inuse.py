"""Is another program using an image right now? Asked without taking any write lock and
without opening the file for writing.

Two probes on a fresh read-only descriptor:

- QEMU (qemu-nbd, qemu-system, qemu-img) and vhdxray's own writer hold open-file-description
  (OFD) locks on bytes 100..299 (see :mod:`vhdxray.core.write.locking`). ``F_OFD_GETLK`` asks
  the kernel whether a write lock on that range *would* conflict with any lock held through
  another open file: a pure query that takes nothing.
- ``flock`` has no query call. A shared, non-blocking ``flock`` on the read-only descriptor,
  released at once, fails only while another open file holds an exclusive ``flock`` (another
  vhdxray writing, or a tool using flock). It cannot block and cannot change the file; for the
  microseconds it is held, another program asking for an *exclusive* flock without waiting would
  be told to try again (vhdxray's writer then refuses cleanly rather than writing), and one that
  waits, waits that long. A shared flock held by someone else is not seen: flock users that
  only read are not "using" the image in the sense that matters here (nobody is writing).

The answer is ``True`` (held), ``False`` (not held by anyone this kernel knows of), or ``None``
when it cannot be known: not Linux/POSIX, a filesystem whose locks live on another machine
(SMB/CIFS, NFS, FUSE, 9p and such: a lock taken on another client is invisible here), or a
filesystem that refuses lock calls. Never a guess.
"""

from __future__ import annotations

import errno
import os
import struct
import threading

from vhdxray.core.format.layout import QEMU_LOCK_LENGTH, QEMU_LOCK_START

# Filesystem types (as /proc/self/mountinfo names them) where another machine may hold locks.
REMOTE_FS_TYPES = frozenset(
    {
        "cifs",
        "smb3",
        "smbfs",
        "nfs",
        "nfs4",
        "9p",
        "ceph",
        "glusterfs",
        "afs",
        "ocfs2",
        "gfs2",
        "lustre",
        "virtiofs",
        "vboxsf",
        "vmhgfs",
    }
)

_BUSY = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES)


def in_use(path: str | os.PathLike[str]) -> bool | None:
    """True while QEMU's image locks or another open file's exclusive flock are held (above)."""
    if os.name != "posix":  # pragma: no cover - Windows: sharing modes, not queryable this way
        return None
    import fcntl

    getlk = getattr(fcntl, "F_OFD_GETLK", None)
    if getlk is None:  # pragma: no cover - non-Linux POSIX: no OFD query
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    try:
        if _remote_filesystem(path, os.fstat(fd).st_dev):
            return None
        qemu = _ofd_range_held(fd, getlk, QEMU_LOCK_START, QEMU_LOCK_LENGTH)
        if qemu is None:
            return None
        if qemu:
            return True
        return _exclusive_flock_held(fd)
    finally:
        os.close(fd)


def _ofd_range_held(fd: int, getlk: int, start: int, length: int) -> bool | None:
    import fcntl

    # struct flock {short l_type; short l_whence; off_t l_start; off_t l_len; pid_t l_pid;}
    query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, start, length, 0)
    try:
        answer = fcntl.fcntl(fd, getlk, query)
    except OSError:  # ENOLCK / EINVAL / EOPNOTSUPP: this filesystem does not answer
        return None
    l_type = struct.unpack("hhqqi4x", answer)[0]
    return bool(l_type != fcntl.F_UNLCK)


def _exclusive_flock_held(fd: int) -> bool | None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _BUSY:
            return True
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


# --- which filesystem a path is on --------------------------------------------------------

_mounts_lock = threading.Lock()
_mounts: tuple[dict[int, str], list[tuple[str, str]]] | None = None
"""(device number -> fs type, [(mount point, fs type)] longest first), read once."""


def _unescape_mount(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _read_mounts() -> tuple[dict[int, str], list[tuple[str, str]]]:
    global _mounts
    with _mounts_lock:
        if _mounts is None:
            by_dev: dict[int, str] = {}
            points: list[tuple[str, str]] = []
            try:
                with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
                    for line in f:
                        left, sep, right = line.partition(" - ")
                        fields = left.split()
                        if not sep or len(fields) < 5 or not right.split():
                            continue
                        fs_type = right.split()[0]
                        major, _, minor = fields[2].partition(":")
                        if major.isdigit() and minor.isdigit():
                            by_dev.setdefault(os.makedev(int(major), int(minor)), fs_type)
                        points.append((_unescape_mount(fields[4]), fs_type))
            except OSError:
                pass
            points.sort(key=lambda m: len(m[0]), reverse=True)
            _mounts = (by_dev, points)
        return _mounts


def filesystem_type(path: str | os.PathLike[str], st_dev: int | None = None) -> str | None:
    """The type of the filesystem holding ``path`` (``ext4``, ``cifs``...), None if unknown.

    By device number when given and listed (no path walk), else by the longest mount point
    that holds the resolved path."""
    by_dev, points = _read_mounts()
    if st_dev is not None and st_dev in by_dev:
        return by_dev[st_dev]
    real = os.path.realpath(path)
    for mount_point, fs_type in points:
        prefix = mount_point.rstrip("/") + "/"
        if real == mount_point or real.startswith(prefix) or mount_point == "/":
            return fs_type
    return None


def _remote_filesystem(path: str | os.PathLike[str], st_dev: int | None = None) -> bool:
    fs_type = filesystem_type(path, st_dev)
    return fs_type is not None and (fs_type in REMOTE_FS_TYPES or fs_type.startswith("fuse"))

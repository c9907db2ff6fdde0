"""Low-level file I/O shared by the reader, the writer, backups and copies.

Positional reads and writes that loop until done (``os.pread``/``os.pwrite`` may return
less than asked), and fsync of a directory so a new file's name is durable too. POSIX calls
are used where they exist; Windows falls back to seek + read/write.
"""

from __future__ import annotations

import os


def create_new(path: str | os.PathLike[str], mode: int = 0o644) -> int:
    """Open a new file for writing; raise FileExistsError rather than touch an existing one."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)


def pread_exact(fd: int, offset: int, length: int) -> bytes:
    """Up to ``length`` bytes at ``offset`` (fewer only at end of file)."""
    chunks: list[bytes] = []
    done = 0
    while done < length:
        if hasattr(os, "pread"):
            chunk = os.pread(fd, length - done, offset + done)
        else:  # pragma: no cover - Windows
            os.lseek(fd, offset + done, os.SEEK_SET)
            chunk = os.read(fd, length - done)
        if not chunk:
            break
        chunks.append(chunk)
        done += len(chunk)
    return b"".join(chunks)


def pwrite_all(fd: int, offset: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` at ``offset``."""
    view = memoryview(data)
    done = 0
    while done < len(view):
        if hasattr(os, "pwrite"):
            done += os.pwrite(fd, view[done:], offset + done)
        else:  # pragma: no cover - Windows
            os.lseek(fd, offset + done, os.SEEK_SET)
            done += os.write(fd, view[done:])


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` at the descriptor's current position."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """Make a new file's directory entry durable (POSIX); a no-op where unsupported."""
    if os.name != "posix":  # pragma: no cover
        return
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(dfd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(dfd)

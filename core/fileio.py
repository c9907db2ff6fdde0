"""Low-level file I/O shared by the reader, the writer, backups and copies.

Positional reads and writes that loop until done (``os.pread``/``os.pwrite`` may return
less than asked), fsync of a directory so a new file's name is durable too, and
:class:`NewFile`, the one way a new file is made. POSIX calls are used where they exist;
Windows falls back to seek + read/write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from types import TracebackType

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


class NotRegularFile(OSError):
    """The path names a directory, FIFO, socket or device: vhdxray reads only regular files.

    An OSError so callers that already report "cannot open" handle it; ``strerror`` is the
    plain-words reason ("not a regular file (a FIFO (named pipe))"), ``kind`` the part in
    brackets."""

    def __init__(self, path: str | os.PathLike[str], mode: int) -> None:
        self.kind = file_kind(mode)
        super().__init__(errno.EINVAL, f"not a regular file ({self.kind})", os.fspath(path))


def file_kind(mode: int) -> str:
    """What a non-regular ``st_mode`` is, in words ("a directory", "a FIFO"...)."""
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def check_regular(path: str | os.PathLike[str]) -> os.stat_result:
    """``os.stat`` of ``path``; raise :class:`NotRegularFile` unless it is a regular file.

    Nothing is opened, so a FIFO or a device is never touched. A path the OS cannot take (a
    NUL in it) is an OSError too, never a ValueError."""
    try:
        st = os.stat(path)
    except ValueError as exc:  # "embedded null byte"
        raise OSError(errno.EINVAL, "the path contains a NUL character", os.fspath(path)) from exc
    if not stat.S_ISREG(st.st_mode):
        raise NotRegularFile(path, st.st_mode)
    return st


def open_regular(path: str | os.PathLike[str], flags: int = os.O_RDONLY) -> int:
    """Open an existing regular file; raise :class:`NotRegularFile` for anything else.

    THE way every command and the app open an image, parent or backup: stat first (a FIFO,
    socket, device or directory is refused before it is opened), then open non-blocking (a FIFO
    swapped in between cannot hang the open) and check the descriptor again."""
    check_regular(path)
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(path, st.st_mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def create_new(path: str | os.PathLike[str], mode: int = 0o644) -> int:
    """Open a new file for writing; raise FileExistsError rather than touch an existing one."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), mode)


class NewFile:
    """A new file, made the one safe way: created exclusively (``O_EXCL``: never over an
    existing file, never through a link), written in a ``with`` block, and on success fsynced,
    closed and its directory fsynced (the new name is durable too); on any exception in the
    block (``Cancelled`` included) closed and removed, so no partial file is left behind.

    Creating happens in the constructor, so a caller can tell "cannot create" (raised by
    ``NewFile(path)``: ``FileExistsError`` or another ``OSError``) from "writing failed"
    (raised out of the ``with`` block)::

        new = NewFile(path)
        with new as fd:
            pwrite_all(fd, 0, data)

    ``durable=False`` skips both fsyncs (a convenience file whose loss after a crash does not
    matter); the partial file is still removed on error.
    """

    def __init__(
        self, path: str | os.PathLike[str], mode: int = 0o644, *, durable: bool = True
    ) -> None:
        self._name = os.fspath(path)
        self.durable = durable
        self.fd = create_new(self._name, mode)

    @property
    def path(self) -> str:
        """The name the file was created under."""
        return self._name

    def __enter__(self) -> int:
        return self.fd

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                if self.durable:
                    os.fsync(self.fd)
            except BaseException:
                self._discard()
                raise
            os.close(self.fd)
            if self.durable:
                fsync_dir(os.path.dirname(os.path.abspath(self._name)))
            return
        self._discard()

    def _discard(self) -> None:
        try:
            os.close(self.fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._name)


def path_text(path: str | os.PathLike[str]) -> str:
    """``path`` as ``str(pathlib.Path(path))`` writes it, without importing :mod:`pathlib`
    (with the ``fnmatch``, ``re``, ``urllib.parse`` and ``ipaddress`` it brings, 8-17 ms of a
    repair's start-up, issue 9): repeated and trailing separators and ``.`` parts dropped,
    ``..`` kept, a leading ``//`` kept (POSIX), ``.`` for the empty path. Nothing is resolved.
    The write path names files by these strings, so its messages, JSON and backups name a file
    as they did when it used Path."""
    text = os.fspath(path)
    if os.name != "posix":  # pragma: no cover - Windows: drives, both separators, UNC roots
        from pathlib import Path

        return str(Path(text))
    if text.startswith("/"):
        root = "//" if text.startswith("//") and not text.startswith("///") else "/"
    else:
        root = ""
    parts = [part for part in text.split("/") if part and part != "."]
    return root + "/".join(parts) if root or parts else "."


def path_name(path: str | os.PathLike[str]) -> str:
    """``pathlib.Path(path).name``: the last part of :func:`path_text` (``""`` for a root or
    ``.``)."""
    text = path_text(path)
    return "" if text == "." else os.path.basename(text)


def path_join(folder: str | os.PathLike[str], name: str) -> str:
    """``str(pathlib.Path(folder) / name)``."""
    return path_text(os.path.join(os.fspath(folder), name))


def temp_name(target: str | os.PathLike[str]) -> str:
    """A hidden name beside ``target`` for a file that is written before it gets its name
    (an export, a repaired copy): ``.NAME.vhdxray-partial-XXXXXXXX``.

    NAME is cut short when the whole would exceed the folder's longest file name (255 bytes
    on most file systems): an OUTPUT whose own name fits must not fail for its temporary's."""
    folder, name = os.path.split(os.fspath(target))
    # os.urandom is what secrets.token_hex reads; secrets imports random, hmac and hashlib.
    suffix = f".vhdxray-partial-{os.urandom(4).hex()}"
    longest = _name_max(folder)
    room = longest - 1 - len(suffix)  # the leading dot, the suffix (ASCII)
    encoded = os.fsencode(name)
    # A NAME too long itself is kept: creating the temporary then fails as the target would.
    if room < len(encoded) <= longest:
        cut = encoded[: max(room, 1)]
        while cut and _splits_a_character(cut):
            cut = cut[:-1]
        name = os.fsdecode(cut)
    return os.path.join(folder, f".{name}{suffix}")


def _name_max(folder: str) -> int:
    """The longest file name ``folder`` takes, in bytes (255 when it cannot be asked)."""
    try:
        return int(os.pathconf(folder or ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # Windows has no pathconf
        return 255


def _splits_a_character(data: bytes) -> bool:
    """``data`` ends inside a UTF-8 sequence (a cut name would end in an escaped byte)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(data) - 3 and exc.reason == "unexpected end of data"
    return False


def publish(
    temp: str | os.PathLike[str], target: str | os.PathLike[str], *, durable: bool = True
) -> None:
    """Give the finished (and already fsynced) file ``temp`` the name ``target``, never
    replacing an existing file, and make the new name durable (unless ``durable=False``).

    A hard link fails when ``target`` exists, so no file that appeared meanwhile is ever
    replaced; where hard links are not supported, the name is checked, then renamed. Raises
    ``FileExistsError`` (``temp`` left in place for the caller to remove) or another OSError."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if os.path.lexists(target):  # no hard links here: check, then rename
            raise FileExistsError(errno.EEXIST, "the file exists", os.fspath(target)) from None
        os.rename(temp, target)
    else:
        os.unlink(temp)
    if durable:
        fsync_dir(os.path.dirname(os.path.abspath(target)))


def free_bytes(folder: str | os.PathLike[str]) -> int:
    """The bytes an unprivileged user may still write in ``folder``'s filesystem, as
    ``shutil.disk_usage(folder).free`` (shutil imports bz2, lzma and fnmatch)."""
    if hasattr(os, "statvfs"):
        st = os.statvfs(folder)
        return st.f_bavail * st.f_frsize
    import shutil  # pragma: no cover - Windows

    return shutil.disk_usage(folder).free  # pragma: no cover


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


PROBE_WINDOW = 8 * 1024 * 1024  # bytes of the file mapped at a time while probing
PROBE_READ_MAX = 1024 * 1024  # up to this many bytes are read instead of mapped


def probe_sectors(fd: int, offset: int, length: int, step: int, signature: bytes) -> list[int]:
    """Positions ``p`` (multiples of ``step``, relative to ``offset``, ``p + len(signature) <=
    length``) where the file holds ``signature``: e.g. the 4 KiB log sectors that start with
    ``loge``.

    Only the first bytes of each sector are looked at: the file is mapped a window at a time and
    the signature's bytes of every sector are gathered with strided slices, so the rest of each
    sector is neither copied nor kept (the mapping is dropped after each window, which bounds
    the memory). Where the file cannot be mapped, and for a range of at most
    :data:`PROBE_READ_MAX` bytes, windows are read instead. The caller keeps
    ``offset + length`` within the file's size.
    """
    width = len(signature)
    found: list[int] = []
    if length < width or step < width or is_hole(fd, offset, length):
        return found
    granularity = 0  # a range this small (the usual 1 MiB log) costs less read than mapped
    if length > PROBE_READ_MAX:  # (importing mmap, an extension module, is most of that cost)
        try:
            import mmap

            granularity = mmap.ALLOCATIONGRANULARITY
        except ImportError:  # pragma: no cover - every supported platform has mmap
            pass
    window = max(PROBE_WINDOW // step, 1) * step
    for start in range(0, length - width + 1, window):
        end = min(start + window, length)
        lanes = None
        if granularity:
            lanes = _mapped_lanes(fd, offset + start, end - start, step, width, granularity)
        if lanes is None:
            data = pread_exact(fd, offset + start, end - start)
            lanes = [data[k::step] for k in range(width)]
        count = min(len(lane) for lane in lanes)
        heads = bytearray(count * width)
        for k, lane in enumerate(lanes):
            heads[k::width] = lane[:count]
        at = heads.find(signature)
        while at >= 0:
            if at % width == 0:
                position = start + (at // width) * step
                if position + width <= length:
                    found.append(position)
                at = heads.find(signature, at + width)
            else:
                at = heads.find(signature, at + width - at % width)
    return found


def data_segments(fd: int, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Sub-ranges of ``[start, end)`` that may hold data; holes are skipped.

    Without ``SEEK_DATA`` (or on a filesystem that refuses it) the whole range is one segment.
    ``end`` is clipped to the file size.
    """
    size = os.fstat(fd).st_size
    end = min(end, size)
    if start >= end:
        return
    seek_data = getattr(os, "SEEK_DATA", None)
    seek_hole = getattr(os, "SEEK_HOLE", None)
    if seek_data is None or seek_hole is None:  # pragma: no cover - Windows
        yield start, end
        return
    pos = start
    while pos < end:
        try:
            data = os.lseek(fd, pos, seek_data)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # no data after pos
                return
            yield pos, end  # pragma: no cover - filesystem without SEEK_DATA
            return
        if data >= end:
            return
        hole = min(os.lseek(fd, data, seek_hole), end)
        yield data, hole
        pos = hole


def is_hole(fd: int, offset: int, length: int) -> bool:
    """True when the file stores nothing in ``[offset, offset + length)`` (a hole of a sparse
    file: it reads as zeros), known without reading or mapping a byte. False when the range may
    hold data or the platform cannot tell."""
    return next(data_segments(fd, offset, offset + length), None) is None


def _mapped_lanes(
    fd: int, position: int, length: int, step: int, width: int, granularity: int
) -> list[bytes] | None:
    import mmap

    skew = position % granularity
    try:
        with mmap.mmap(
            fd, length + skew, access=mmap.ACCESS_READ, offset=position - skew
        ) as mapped:
            return [mapped[skew + k : skew + length : step] for k in range(width)]
    except (OSError, ValueError, OverflowError):
        return None

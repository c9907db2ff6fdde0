"""Test images from real bytes: qemu-img made in the run, and the real images in ../shared.

Real images are decompressed sparsely (runs of zeros become holes) into a per-session cache,
then copied (sparsely) into each test's tmp_path so tests may damage them freely.
"""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from filelock import FileLock

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
REAL_DIR = SHARED_DIR / "images" / "real"

# name -> (stored file, member inside a zip or None)
REAL_IMAGES: dict[str, tuple[str, str | None]] = {
    "dissect-fixed": ("dissect-fixed.vhdx.gz", None),
    "dissect-dynamic": ("dissect-dynamic.vhdx.gz", None),
    "dissect-differencing": ("dissect-differencing.avhdx.gz", None),
    "velociraptor": ("velociraptor-test.vhdx.zip", "test.vhdx"),
    "discutils-log-replay": ("discutils-vhdx-log-replay.zip", "vhdx-log-replay.vhdx"),
    "qemu-dirtylog": ("qemu-iotest-dirtylog-10G-4M.vhdx.bz2", None),
    "qemu-disk2vhd": ("qemu-test-disk2vhd.vhdx.bz2", None),
    "qemu-dynamic-1g": ("qemu-iotest-dynamic-1G.vhdx.bz2", None),
    "discutils-btrfs": ("discutils-btrfs.vhdx.gz", None),
    "discutils-lvm2": ("discutils-lvm2.vhdx.gz", None),  # Windows 10, 10 GiB, 18 blocks
    "discutils-swap": ("discutils-swap.vhdx.gz", None),
    "discutils-xfs": ("discutils-xfs.vhdx.gz", None),
    "discutils-xfs5": ("discutils-xfs5.vhdx.gz", None),
    "coreos-config2": ("coreos-config2_base.vhdx.bz2", None),
}

Stream = io.BufferedIOBase | IO[bytes]
"""A file read in binary (gzip and bz2 files are the first kind, zip members the second)."""

CHUNK = 1 << 20
_ZERO_CHUNK = bytes(CHUNK)


def _open_stored(stored: Path, member: str | None) -> Stream:
    if stored.suffix == ".gz":
        return gzip.open(stored, "rb")
    if stored.suffix == ".bz2":
        return bz2.open(stored, "rb")
    if stored.suffix == ".zip":
        archive = zipfile.ZipFile(stored)
        assert member is not None
        return archive.open(member)
    raise ValueError(f"unknown compression: {stored}")


def write_sparse(source: Stream, target: Path) -> int:
    """Copy ``source`` into ``target``, leaving holes where whole 1 MiB chunks are zero."""
    size = 0
    with open(target, "wb") as out:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            if chunk == _ZERO_CHUNK[: len(chunk)]:
                out.seek(len(chunk), os.SEEK_CUR)
            else:
                out.write(chunk)
            size += len(chunk)
        out.truncate(size)
    return size


def copy_sparse(source: Path, target: Path) -> Path:
    """A copy of ``source`` with holes where it has holes: only its data segments are read and
    written, so copying a sparse multi-GiB image costs what its data costs."""
    with open(source, "rb") as src, open(target, "wb") as out:
        size = os.fstat(src.fileno()).st_size
        for start, end in data_segments(src.fileno(), size):
            src.seek(start)
            out.seek(start)
            while start < end:
                chunk = src.read(min(CHUNK, end - start))
                if not chunk:
                    break
                out.write(chunk)
                start += len(chunk)
        out.truncate(size)
    return target


def real_image_available() -> bool:
    return REAL_DIR.is_dir()


def unpack_real(name: str, cache_dir: Path) -> Path:
    """Decompress real image ``name`` once into ``cache_dir``; returns the cached path.

    Parallel test workers share ``cache_dir``: a file lock makes one of them decompress while
    the others wait, and the image appears under its name only once complete."""
    stored_name, member = REAL_IMAGES[name]
    target = cache_dir / f"{name}.vhdx"
    with FileLock(str(cache_dir / f"{name}.lock")):
        if not target.exists():
            partial = target.with_suffix(".partial")
            with _open_stored(REAL_DIR / stored_name, member) as source:
                write_sparse(source, partial)
            partial.rename(target)
    return target


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def qemu_img_create(path: Path, size: str, *options: str) -> Path:
    """``qemu-img create -f vhdx [-o ...] path size``."""
    cmd = ["qemu-img", "create", "-q", "-f", "vhdx"]
    if options:
        cmd += ["-o", ",".join(options)]
    subprocess.run([*cmd, str(path), size], check=True, capture_output=True)
    return path


def qemu_io(path: Path, *commands: str, fmt: str = "vhdx") -> str:
    cmd = ["qemu-io", "-f", fmt]
    for command in commands:
        cmd += ["-c", command]
    done = subprocess.run([*cmd, str(path)], check=True, capture_output=True, text=True)
    return done.stdout


def qemu_img_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["qemu-img", "check", "-f", "vhdx", str(path)], capture_output=True, text=True
    )


def virtual_disk_bytes(path: Path, out: Path) -> Path:
    """The whole virtual disk as raw bytes, read by qemu-img (an independent reader)."""
    subprocess.run(
        ["qemu-img", "convert", "-f", "vhdx", "-O", "raw", str(path), str(out)],
        check=True,
        capture_output=True,
    )
    return out


def iter_chunks(path: Path, size: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


PIECE = 64 * 1024
_ZERO_PIECE = bytes(PIECE)


def piece_digest(
    size: int, read: Callable[[int, int], bytes], ranges: Iterable[tuple[int, int]]
) -> tuple[int, str]:
    """(size, digest of every non-zero 64 KiB-aligned piece with its offset) over the bytes
    ``read(offset, length)`` gives, looking only inside ``ranges`` (sorted; every non-zero byte
    must lie in one). Two sources digest equal iff their bytes are equal, however their ranges
    were cut, so a sparse file and a virtual disk's allocated runs compare directly."""
    h = hashlib.sha256()
    done = 0  # every piece below this offset has been looked at
    for start, end in ranges:
        pos = max(start // PIECE * PIECE, done)
        stop = min(-(-end // PIECE) * PIECE, size)
        while pos < stop:
            data = read(pos, min(16 * CHUNK, stop - pos))
            assert data, (pos, stop)
            view = memoryview(data)
            for at in range(0, len(data), PIECE):
                piece = view[at : at + PIECE]
                if piece != _ZERO_PIECE[: len(piece)]:
                    h.update((pos + at).to_bytes(8, "little"))
                    h.update(piece)
            pos += len(data)
        done = max(done, stop)
    return size, h.hexdigest()


def data_segments(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """The file's data segments (SEEK_DATA/SEEK_HOLE); the whole file where holes are unknown."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # only a hole is left
                return
            yield pos, size  # no hole support here: read everything
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end
        pos = end


def sparse_digest(path: Path) -> tuple[int, str]:
    """:func:`piece_digest` of a file: equal iff bytes equal. Holes are skipped, so a 10 GiB
    sparse raw image costs little."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        fd = f.fileno()
        return piece_digest(size, lambda at, n: os.pread(fd, n, at), list(data_segments(fd, size)))

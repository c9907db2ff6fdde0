"""Exactness across a change: run two installs of vhdxray over the same images and compare.

    python bench/compare_installs.py OLD_PYTHON NEW_PYTHON [--make DIR] [IMAGE_OR_DIR ...]

Each image is given to ``OLD_PYTHON -m vhdxray`` and ``NEW_PYTHON -m vhdxray`` with each of
``check --json``, ``info --json``, ``check``, ``info`` (and the ``--no-guest`` forms of the
first two); stdout, stderr and the exit code must be byte-identical. A folder is searched for
``*.vhdx``, ``*.avhdx`` and ``*.vhds`` (and files without a suffix that start with
``vhdxfile``). ``--make DIR`` first fills DIR with images of several kinds: qemu-img made
(dynamic and fixed, empty and written, several block and log sizes, a zero-state BAT, a
64 TiB sparse disk, a parent with a differencing child made by the NEW install's ``create``),
and the real images of ``../shared/images/real`` (dirty logs among them) decompressed
sparsely. Damaged images come from the tests: run them with ``bench/keep_test_images.py`` (a
pytest plugin) and pass its folder. Prints one line per difference and the count of
comparisons; exits 1 when any differ.
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import subprocess
import sys
import zipfile
from pathlib import Path

from run import sparse_copy  # bench/run.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "images" / "real"
COMMANDS = (
    ["check", "--json"],
    ["info", "--json"],
    ["check"],
    ["info"],
    ["check", "--json", "--no-guest"],
    ["info", "--json", "--no-guest"],
)
SUFFIXES = (".vhdx", ".avhdx", ".vhds")
MiB = 1 << 20


def unpack_real(folder: Path) -> None:
    for stored in sorted(REAL.glob("*")):
        name = stored.name
        if name.endswith(".gz"):
            target = folder / name[: -len(".gz")]
            if not target.exists():
                with gzip.open(stored, "rb") as src:
                    sparse_copy(src, target)
        elif name.endswith(".bz2"):
            target = folder / name[: -len(".bz2")]
            if not target.exists():
                with bz2.open(stored, "rb") as src:
                    sparse_copy(src, target)
        elif name.endswith(".zip"):
            with zipfile.ZipFile(stored) as archive:
                for member in archive.namelist():
                    if member.endswith("/"):
                        continue
                    target = folder / (stored.stem + "--" + member.replace("/", "_"))
                    if not target.exists():
                        with archive.open(member) as src:
                            sparse_copy(src, target)


def qemu_images(folder: Path) -> None:
    def qemu_img(*args: str) -> None:
        subprocess.run(["qemu-img", *args], check=True, capture_output=True)

    def qemu_io(path: Path, command: str) -> None:
        subprocess.run(
            ["qemu-io", "-f", "vhdx", "-c", command, str(path)], check=True, capture_output=True
        )

    specs: list[tuple[str, list[str], str, list[str]]] = [
        ("q-empty-64M", [], "64M", []),
        ("q-written-64M", [], "64M", ["write -P 0x5a 0 24M"]),
        ("q-tail-64M", [], "64M", ["write -P 0x11 63M 1M"]),
        ("q-head-sector", [], "64M", ["write -P 0x01 0 512"]),
        ("q-block1M", ["-o", "block_size=1M"], "256M", ["write -P 0x22 3M 2M"]),
        ("q-block256M", ["-o", "block_size=256M"], "1G", ["write -P 0x33 300M 4K"]),
        ("q-log256", ["-o", "log_size=256M"], "1G", []),
        ("q-log8M-written", ["-o", "log_size=8M"], "128M", ["write -P 0x44 0 1M"]),
        ("q-fixed-16M", ["-o", "subformat=fixed"], "16M", []),
        ("q-fixed-written", ["-o", "subformat=fixed"], "16M", ["write -P 0x55 1M 1M"]),
        ("q-zero-state", ["-o", "block_state_zero=off"], "64M", ["write -z 0 4M"]),
        ("q-64T", ["-o", "block_size=32M"], "64T", []),
        ("q-odd-size", [], "65537K", ["write -P 0x66 0 64K"]),
    ]
    for name, options, size, writes in specs:
        path = folder / f"{name}.vhdx"
        if path.exists():
            continue
        qemu_img("create", "-q", "-f", "vhdx", *options, str(path), size)
        for command in writes:
            qemu_io(path, command)
    parent = folder / "q-parent.vhdx"
    child = folder / "q-child.vhdx"
    if not child.exists():
        qemu_img("create", "-q", "-f", "vhdx", str(parent), "64M")
        qemu_io(parent, "write -P 0x77 0 2M")
        # qemu-img cannot make a VHDX child; vhdxray's own create does (the new install's).
        subprocess.run(
            [sys.executable, "-m", "vhdxray", "create", str(child), "--parent", str(parent)],
            capture_output=True,
        )


def images_in(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and (f.suffix in SUFFIXES or f.name.startswith("vhdxfile")):
                    found.append(f)
        elif p.exists():
            found.append(p)
    return found


def run(python: str, args: list[str]) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        [python, "-m", "vhdxray", *args], capture_output=True, timeout=600, cwd="/"
    )
    return done.returncode, done.stdout, done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--make", type=Path, help="fill this folder with images first")
    args = parser.parse_intermixed_args()
    paths = list(args.paths)
    if args.make is not None:
        args.make.mkdir(parents=True, exist_ok=True)
        qemu_images(args.make)
        if REAL.is_dir():
            unpack_real(args.make)
        paths.append(args.make)
    images = images_in(paths)
    compared = differ = 0
    for image in images:
        for command in COMMANDS:
            argv = [*command, str(image)]
            old, new = run(args.old, argv), run(args.new, argv)
            compared += 1
            if old != new:
                differ += 1
                what = [
                    n
                    for n, a, b in zip(("exit", "stdout", "stderr"), old, new, strict=True)
                    if a != b
                ]
                print(f"DIFFERS ({', '.join(what)}): {' '.join(argv)}", flush=True)
    print(f"{compared} comparisons over {len(images)} images, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main())

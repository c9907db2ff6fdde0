"""Benchmark what guest triage adds to ``vhdxray check``: on every real image in
../shared/images/real and on VHDX images holding each filesystem the mkfs tools make here.

For each image, in one process after start-up (median of --runs): the container check alone
(``read_report``), what looking inside adds (``inspect_image``: opening the virtual disk through
its BAT and log, then triage), triage alone on an open disk, and the bytes triage read. Goal:
under 50 ms added per image, under 2 MiB read.

    python bench/bench_guest.py [--runs 15] [--write]

``--write`` replaces the guest section of docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "PERFORMANCE.md"
START, END = "<!-- bench_guest:start -->", "<!-- bench_guest:end -->"

from tests import imagefiles  # noqa: E402
from vhdxray.core.analysis.guest import triage  # noqa: E402
from vhdxray.core.analysis.guest.image import inspect_image  # noqa: E402
from vhdxray.core.analysis.reader import read_report  # noqa: E402
from vhdxray.core.analysis.virtual import open_virtual_disk  # noqa: E402

MKFS = {
    "ext4": ["mkfs.ext4", "-q", "-F"],
    "ntfs": ["mkntfs", "-q", "-F", "-Q"],
    "fat32": ["mkfs.vfat", "-F", "32"],
    "exfat": ["mkfs.exfat"],
    "xfs": ["mkfs.xfs", "-q", "-f"],
    "btrfs": ["mkfs.btrfs", "-q", "-f"],
}
SIZES = {"xfs": 320 << 20, "btrfs": 128 << 20}


def median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


class Counting:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.size: int = inner.size  # type: ignore[attr-defined]
        self.bytes_read = 0

    def read(self, offset: int, length: int) -> bytes:
        self.bytes_read += length
        return self.inner.read(offset, length)  # type: ignore[attr-defined, no-any-return]


def made_images(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for kind, cmd in MKFS.items():
        if not imagefiles.have(cmd[0]) or not imagefiles.have("qemu-img"):
            continue
        raw = folder / f"{kind}.img"
        with open(raw, "wb") as f:
            f.truncate(SIZES.get(kind, 64 << 20))
        subprocess.run([*cmd, str(raw)], check=True, capture_output=True)
        vhdx = folder / f"mkfs-{kind}.vhdx"
        subprocess.run(
            ["qemu-img", "convert", "-f", "raw", "-O", "vhdx", str(raw), str(vhdx)],
            check=True,
            capture_output=True,
        )
        raw.unlink()
        out[f"mkfs-{kind}"] = vhdx
    return out


def real_images(folder: Path) -> dict[str, Path]:
    if not imagefiles.real_image_available():
        return {}
    return {name: imagefiles.unpack_real(name, folder) for name in sorted(imagefiles.REAL_IMAGES)}


def measure(name: str, path: Path, runs: int) -> dict[str, object]:
    report = read_report(path)
    container = median_ms(lambda: read_report(path), runs)
    added = median_ms(lambda: inspect_image(path, report), runs)
    outcome = inspect_image(path, report)
    row: dict[str, object] = {"image": name, "container_ms": container, "added_ms": added}
    if outcome.guest is None:
        row.update(triage_ms=None, bytes_read=None, inside=f"not looked at ({outcome.error_code})")
        return row
    with open_virtual_disk(path) as disk:
        sector = disk.logical_sector_size
        row["triage_ms"] = median_ms(lambda: triage(disk, sector), runs)
        counter = Counting(disk)
        guest = triage(counter, sector)
    row["bytes_read"] = counter.bytes_read
    if guest.partition_table == "none":
        inside = (
            guest.filesystem.type
            if guest.filesystem
            else ("blank" if guest.blank else "unrecognised")
        )
    else:
        fss = ",".join(p.filesystem.type if p.filesystem else "-" for p in guest.partitions)
        inside = f"{guest.partition_table}: {fss}"
    row["inside"] = inside
    return row


def table(rows: list[dict[str, object]], runs: int) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, Python "
        f"{platform.python_version()}, median of {runs} runs in one process after start-up.",
        "",
        "| image | inside | check alone (ms) | looking inside adds (ms) | triage alone (ms) "
        "| bytes triage read |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        tri = "—" if r["triage_ms"] is None else f"{r['triage_ms']:.2f}"
        read = "—" if r["bytes_read"] is None else f"{r['bytes_read']:,}"
        lines.append(
            f"| {r['image']} | {r['inside']} | {r['container_ms']:.2f} | {r['added_ms']:.2f} "
            f"| {tri} | {read} |"
        )
    worst = max(float(str(r["added_ms"])) for r in rows)
    most = max((int(str(r["bytes_read"])) for r in rows if r["bytes_read"] is not None), default=0)
    lines += ["", f"Worst added: {worst:.1f} ms (goal < 50 ms); most read: {most:,} bytes."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vhdxray-bench-guest-") as tmp:
        folder = Path(tmp)
        images = {**real_images(folder), **made_images(folder)}
        rows = [measure(name, path, args.runs) for name, path in images.items()]
    text = table(rows, args.runs)
    print(text)
    if args.write:
        doc = DOC.read_text()
        block = f"{START}\n{text}\n{END}"
        if START in doc:
            before, rest = doc.split(START, 1)
            doc = before + block + rest.split(END, 1)[1]
        else:
            doc = doc.rstrip("\n") + "\n\n## Guest triage (what looking inside adds to check)\n\n"
            doc += block + "\n"
        DOC.write_text(doc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark ``vhdxray export`` against ``qemu-img convert -O raw`` in the same run.

Two images, both made by qemu-img in the run:

* ``full-1G``: a 1 GiB dynamic VHDX fully written with random bytes (``qemu-img convert`` of
  1 GiB from /dev/urandom);
* ``sparse-64T``: a 64 TiB dynamic VHDX with 64 scattered 1 MiB writes (qemu-io).

Each tool runs as its own process, interleaved, ``--runs`` times; reported are min and median
wall time, CPU time (user + system) and peak RSS (GNU time), and vhdxray's ratios to qemu-img
at the same durability: vhdxray's default (the output flushed before it is named) against
``qemu-img convert -t writeback`` (one fdatasync at the end), and ``vhdxray export --no-flush``
against plain ``qemu-img convert`` (whose default cache mode never flushes).
Outputs are checked equal once. qemu-img reads every virtual byte of a VHDX (its driver has
no block-status call), so on the 64 TiB image it is stopped after ``--qemu-limit`` seconds and
its progress at that point is reported; the ratio is then an upper bound. A 64 TiB raw file
does not fit ext4's 16 TiB file limit, so the sparse image is exported into ``--big-dir``
(default /dev/shm, a tmpfs).

    python bench/bench_export.py [--runs 5] [--dir DIR] [--big-dir /dev/shm] [--qemu-limit 60]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TIME = shutil.which("time") or "/usr/bin/time"
MiB = 1 << 20


@dataclass
class Sample:
    wall: float
    cpu: float
    rss_kib: int
    finished: bool = True
    note: str = ""


def run(cmd: list[str], limit: float | None = None) -> Sample:
    capped = ["timeout", "-s", "INT", str(limit)] if limit is not None else []
    full = [TIME, "-f", "TIME %e %U %S %M", *capped, *cmd]
    start = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - start
    finished = proc.returncode == 0
    err = proc.stdout + proc.stderr
    note = ""
    progress = re.findall(r"\((\d+\.\d+)/100%\)", err)
    if progress:
        note = f"{progress[-1]}% done"
    match = re.search(r"TIME (\S+) (\S+) (\S+) (\d+)", err)
    if match is None:
        return Sample(wall, 0.0, 0, finished, note)
    return Sample(
        wall,
        float(match[2]) + float(match[3]),
        int(match[4]),
        finished and proc.returncode == 0,
        note,
    )


def sync() -> None:
    subprocess.run(["sync"], check=False)


def make_full(folder: Path) -> Path:
    raw = folder / "random.raw"
    with open(raw, "wb") as f:
        for _ in range(1024):
            f.write(os.urandom(MiB))
    image = folder / "full-1G.vhdx"
    subprocess.run(
        ["qemu-img", "convert", "-f", "raw", "-O", "vhdx", str(raw), str(image)], check=True
    )
    raw.unlink()
    return image


def make_sparse(folder: Path) -> Path:
    image = folder / "sparse-64T.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(image), "64T"], check=True)
    cmds: list[str] = []
    for i in range(64):
        cmds += ["-c", f"write -P {i + 1} {i * 1024 + 7}G 1M"]
    subprocess.run(["qemu-io", "-f", "vhdx", *cmds, str(image)], check=True, capture_output=True)
    return image


def fmt(samples: list[Sample], attr: str) -> tuple[float, float]:
    values = [getattr(s, attr) for s in samples]
    return min(values), statistics.median(values)


def check_sparse_output(path: Path) -> None:
    """The 64 scattered writes are where make_sparse put them, and nothing else is."""
    with open(path, "rb") as f:
        for i in range(64):
            f.seek((i * 1024 + 7) << 30)
            if f.read(MiB) != bytes([i + 1]) * MiB:
                raise SystemExit(f"sparse-64T: write {i} is not in the output")
    allocated = os.stat(path).st_blocks * 512
    if allocated > 80 * MiB:
        raise SystemExit(f"sparse-64T: {allocated} bytes allocated; holes were written")


# Each tool of a case: its label in the table, and its peer at the same durability (the
# ratio's reference). Plain qemu-img convert never flushes (cache=unsafe); -t writeback makes one
# fdatasync at the end, as vhdxray's default; vhdxray --no-flush flushes nothing either.
LABELS = {
    "qemu": "qemu-img convert (no flush at all)",
    "qemu-wb": "qemu-img convert -t writeback (fdatasync at the end, as vhdxray)",
    "vhdxray": "vhdxray export (flushed before it is named, the default)",
    "vhdxray-nf": "vhdxray export --no-flush (no flush, as plain qemu-img convert)",
}
PEER = {"vhdxray": "qemu-wb", "vhdxray-nf": "qemu"}


def _command(tool: str, image: Path, out: Path) -> list[str]:
    if tool.startswith("qemu"):
        cache = ["-t", "writeback"] if tool == "qemu-wb" else []
        return [
            "qemu-img",
            "convert",
            "-p",
            *cache,
            "-f",
            "vhdx",
            "-O",
            "raw",
            str(image),
            str(out),
        ]
    flag = ["--no-flush"] if tool == "vhdxray-nf" else []
    return [sys.executable, "-m", "vhdxray", "export", "--quiet", *flag, str(image), str(out)]


def bench(
    name: str, image: Path, out_dir: Path, runs: int, qemu_limit: float | None, check: bool
) -> list[str]:
    every = ("qemu", "qemu-wb", "vhdxray", "vhdxray-nf")
    samples: dict[str, list[Sample]] = {tool: [] for tool in every}
    outs = {tool: out_dir / f"{name}.{tool}.raw" for tool in every}
    for i in range(runs):
        tools: tuple[str, ...] = every if i % 2 == 0 else tuple(reversed(every))
        if qemu_limit is not None:  # capped runs: once is enough, flushed or not
            tools = ("qemu", "vhdxray") if i == 0 else ("vhdxray",)
        for tool in tools:
            outs[tool].unlink(missing_ok=True)
            sync()  # the previous tool's dirty pages are not this one's to write
            limit = qemu_limit if tool.startswith("qemu") else None
            samples[tool].append(run(_command(tool, image, outs[tool]), limit))
        if not check and i == 0:
            check_sparse_output(outs["vhdxray"])
        if check and i == 0:
            for tool in ("vhdxray", "vhdxray-nf"):
                same = subprocess.run(["cmp", "-s", str(outs["qemu"]), str(outs[tool])])
                if same.returncode != 0:
                    raise SystemExit(f"{name}: {tool}'s output differs from qemu-img's")
        for out in outs.values():
            out.unlink(missing_ok=True)
    lines = []
    for tool in every:
        got = samples[tool]
        if not got:
            continue
        w, c = fmt(got, "wall"), fmt(got, "cpu")
        rss = max(s.rss_kib for s in got)
        unfinished = [s for s in got if not s.finished]
        note = ""
        if unfinished:
            note = f"stopped after {qemu_limit:.0f} s: {unfinished[0].note or 'no progress'}"
        peer = PEER.get(tool)
        if peer is not None and not samples[peer]:  # the capped case ran plain qemu-img only
            peer = "qemu"
        if peer is not None and samples[peer]:
            pw, pc = fmt(samples[peer], "wall"), fmt(samples[peer], "cpu")
            p_rss = max(s.rss_kib for s in samples[peer])
            bound = "< " if any(not s.finished for s in samples[peer]) else ""
            note = (
                f"vs {LABELS[peer].split(' (')[0]}: wall {bound}{w[0] / pw[0]:.2f}x / "
                f"{bound}{w[1] / pw[1]:.2f}x (min / median), cpu {c[1] / max(pc[1], 1e-9):.2f}x "
                f"(median); peak RSS {rss / max(p_rss, 1):.2f}x"
            )
        lines.append(
            f"| {name} | {LABELS[tool]} | {w[0]:.2f} / {w[1]:.2f} | {c[0]:.2f} / {c[1]:.2f} "
            f"| {rss / 1024:.0f} | {note} |"
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", help="where the images and the 1 GiB outputs go (default: a temp dir)")
    ap.add_argument("--big-dir", default="/dev/shm", help="where the 64 TiB outputs go")
    ap.add_argument("--qemu-limit", type=float, default=60.0)
    ap.add_argument("--only", choices=("full", "sparse"))
    args = ap.parse_args()
    for tool in ("qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install qemu-utils)")
    folder = Path(args.dir or tempfile.mkdtemp(prefix="vhdxray-bench-export-"))
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"vhdxray export vs qemu-img convert -O raw; {args.runs} runs each, interleaved; "
        f"{os.cpu_count()} CPUs; images in {folder}",
        "",
        "| image | tool | wall s (min / median) | cpu s (min / median) | peak RSS MiB | |",
        "|---|---|---|---|---|---|",
    ]
    try:
        if args.only in (None, "full"):
            lines += bench("full-1G", make_full(folder), folder, args.runs, None, True)
        if args.only in (None, "sparse"):
            big_dir = Path(args.big_dir)
            if not big_dir.is_dir():
                lines.append(f"| sparse-64T | skipped: {big_dir} is missing | | | | |")
            else:
                lines += bench(
                    "sparse-64T", make_sparse(folder), big_dir, args.runs, args.qemu_limit, False
                )
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

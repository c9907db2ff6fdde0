"""Benchmark ``vhdxray export`` against ``qemu-img convert -O raw`` in the same run.

Two images, both made by qemu-img in the run:

* ``full-1G``: a 1 GiB dynamic VHDX fully written with random bytes (``qemu-img convert`` of
  1 GiB from /dev/urandom);
* ``sparse-64T``: a 64 TiB dynamic VHDX with 64 scattered 1 MiB writes (qemu-io).

Each tool runs as its own process, interleaved, ``--runs`` times; reported are min and median
wall time, CPU time (user + system) and peak RSS (GNU time), and vhdxray's ratios to qemu-img.
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


def bench(
    name: str, image: Path, out_dir: Path, runs: int, qemu_limit: float | None, check: bool
) -> list[str]:
    vhdxray = [sys.executable, "-m", "vhdxray", "export", "--quiet"]
    q_samples: list[Sample] = []
    wb_samples: list[Sample] = []
    v_samples: list[Sample] = []
    q_out, v_out = out_dir / f"{name}.qemu.raw", out_dir / f"{name}.vhdxray.raw"
    for i in range(runs):
        tools = ("qemu", "qemu-wb", "vhdxray") if i % 2 == 0 else ("vhdxray", "qemu-wb", "qemu")
        if qemu_limit is not None:  # capped runs: once is enough, flushed or not
            tools = ("qemu", "vhdxray") if i == 0 else ("vhdxray",)
        for tool in tools:
            (v_out if tool == "vhdxray" else q_out).unlink(missing_ok=True)
            sync()
            if tool.startswith("qemu"):
                convert = ["qemu-img", "convert", "-p", "-f", "vhdx", "-O", "raw"]
                if tool == "qemu-wb":
                    convert[2:2] = ["-t", "writeback"]
                s = run([*convert, str(image), str(q_out)], qemu_limit)
                (q_samples if tool == "qemu" else wb_samples).append(s)
            else:
                s = run([*vhdxray, str(image), str(v_out)])
                v_samples.append(s)
        if not check and i == 0:
            check_sparse_output(v_out)
        if check and i == 0:
            same = subprocess.run(["cmp", "-s", str(q_out), str(v_out)]).returncode == 0
            if not same:
                raise SystemExit(f"{name}: outputs differ")
    for p in (q_out, v_out):
        p.unlink(missing_ok=True)
    qw, vw = fmt(q_samples, "wall"), fmt(v_samples, "wall")
    qc, vc = fmt(q_samples, "cpu"), fmt(v_samples, "cpu")
    q_rss = max(s.rss_kib for s in q_samples)
    v_rss = max(s.rss_kib for s in v_samples)
    unfinished = [s for s in q_samples if not s.finished]
    q_note = ""
    if unfinished:
        q_note = (
            f" (qemu-img stopped after {qemu_limit:.0f} s: {unfinished[0].note or 'no progress'})"
        )
    lines = [
        f"| {name} | qemu-img convert | {qw[0]:.2f} / {qw[1]:.2f} | {qc[0]:.2f} / {qc[1]:.2f} "
        f"| {q_rss / 1024:.0f} |{q_note}",
    ]
    ratios = f"vs qemu-img convert: wall {vw[1] / qw[1]:.2f}x, cpu {vc[1] / max(qc[1], 1e-9):.2f}x"
    if wb_samples:
        ww, wc = fmt(wb_samples, "wall"), fmt(wb_samples, "cpu")
        w_rss = max(s.rss_kib for s in wb_samples)
        lines.append(
            f"| {name} | qemu-img convert -t writeback (fdatasync at the end, as vhdxray) "
            f"| {ww[0]:.2f} / {ww[1]:.2f} | {wc[0]:.2f} / {wc[1]:.2f} | {w_rss / 1024:.0f} | |"
        )
        ratios += f"; vs -t writeback: wall {vw[1] / ww[1]:.2f}x"
    if unfinished:
        ratios = (
            f"wall < {vw[1] / qw[1]:.3f}x (qemu-img unfinished), cpu "
            f"{vc[1] / max(qc[1], 1e-9):.3f}x"
        )
    lines.append(
        f"| {name} | vhdxray export | {vw[0]:.2f} / {vw[1]:.2f} | {vc[0]:.2f} / {vc[1]:.2f} "
        f"| {v_rss / 1024:.0f} | {ratios} (medians); peak RSS {v_rss / max(q_rss, 1):.2f}x |"
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

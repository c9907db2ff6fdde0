"""Benchmark ``vhdxray scan`` against a loop of ``qemu-img check`` over the same images.

Images: one small dynamic image made by vhdxray's writer (64 MiB virtual, 1 MiB blocks, some
data), hard-linked N times into one folder (so 10,000 images cost one image of disk). Every
tool reads the same files in the same run, with the page cache equally warm.

Measured, each ``--runs`` times, min and median:

1. ``qemu-img check -f vhdx`` run once per image over 400 images (a shell loop's cost:
   one process per image), against ``vhdxray scan --json --no-guest`` over the same 400 (one
   process, start-up included; qemu-img check does not look inside the guest either) -> the
   throughput ratio (goal: at least 5x); and the default scan, with guest triage;
2. ``vhdxray scan --json`` with ``--jobs`` 1, 2, 4, 8 and ``--processes``, on 400 images;
3. images per second for 100, 400, 2,000 and 10,000 images (``--max`` lowers the top), with
   ``--no-guest`` and with guest triage (the default);
4. peak RSS of both over 10,000 images (GNU time ``%M``; goal < 200 MiB).

vhdxray runs as an installed tool does: with its modules' bytecode cached (pip compiles it at
install time; here a cache folder in the benchmark's temporary folder, filled by an untimed
first scan, as the page cache is warmed for every tool). A development shell's
``PYTHONDONTWRITEBYTECODE=1`` would otherwise compile every module again at every start, about
0.15-0.2 s of CPU per scan on this machine; ``--cold-bytecode`` keeps the environment's setting
(measure that too: it is what an editable install in such a shell sees).

    python bench/bench_scan.py [--runs 3] [--max 10000] [--out results.md] [--cold-bytecode]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

TIME = shutil.which("time") or "/usr/bin/time"
VHDXRAY = [str(Path(sys.executable).with_name("vhdxray"))]
ENV: dict[str, str] | None = None  # set by main(): vhdxray's environment (bytecode cache)


def bytecode_env(cache: Path) -> dict[str, str]:
    """The environment with bytecode caching on, the cache kept in ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(cache)
    return env


def make_images(folder: Path, count: int, master: Path) -> Path:
    """``count`` hard links of ``master`` in ``folder`` (made once, reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        link = folder / f"Profile_user{i:05d}.vhdx"
        if not link.exists():
            os.link(master, link)
    return folder


def make_master(path: Path) -> Path:
    from vhdxray.core.format import layout
    from vhdxray.core.write.create import CreateOptions, create_image

    opts = CreateOptions(virtual_size=64 * layout.MiB, block_size=layout.MiB)
    data = [(i * layout.MiB, b"profile data\n".ljust(4096, b"\0")) for i in range(0, 64, 8)]
    return create_image(path, opts, data=data)


def timed(cmd: Sequence[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS in KiB (0 without GNU time) of one command."""
    use_time = os.path.exists(TIME)
    full = [TIME, "-f", "%M", *cmd] if use_time else list(cmd)
    start = time.perf_counter()
    proc = subprocess.run(
        full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{cmd[:3]} failed: {proc.stderr[-500:]}")
    rss = 0
    if use_time:
        last = proc.stderr.strip().splitlines()[-1]
        rss = int(last) if last.isdigit() else 0
    return wall, rss


def qemu_loop(files: list[Path]) -> float:
    start = time.perf_counter()
    for f in files:
        subprocess.run(
            ["qemu-img", "check", "-f", "vhdx", str(f)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    return time.perf_counter() - start


def scan_cmd(folder: Path, *extra: str) -> list[str]:
    return [*VHDXRAY, "scan", "--json", "--no-guest", *extra, str(folder)]


def stats(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max", type=int, default=10_000, help="largest image count")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--ratio-only", action="store_true", help="only part 1 (qemu-img loop)")
    parser.add_argument(
        "--cold-bytecode",
        action="store_true",
        help="keep the environment's bytecode setting (PYTHONDONTWRITEBYTECODE=1: every "
        "module compiled at each start)",
    )
    args = parser.parse_args()
    if not shutil.which("qemu-img"):
        print("qemu-img is not installed (apt-get install qemu-utils)", file=sys.stderr)
        return 1
    base = Path(tempfile.mkdtemp(prefix="vhdxray-bench-scan-"))
    out: list[str] = []
    try:
        master = make_master(base / "master.vhdx")
        d400 = make_images(base / "n400", 400, master)
        files = sorted(d400.glob("*.vhdx"))
        global ENV
        if not args.cold_bytecode:
            ENV = bytecode_env(base / "pycache")
        bytecode = (
            "the environment's bytecode setting"
            + (
                " (PYTHONDONTWRITEBYTECODE=1: no cache)"
                if os.environ.get("PYTHONDONTWRITEBYTECODE")
                else ""
            )
            if args.cold_bytecode
            else "bytecode cached as installed"
        )
        timed([*VHDXRAY, "scan", "--json", str(d400)])  # untimed: fills the bytecode cache
        # 1. qemu-img loop vs scan, interleaved.
        q_times: list[float] = []
        s_times: list[float] = []
        g_times: list[float] = []
        for _ in range(args.runs):
            q_times.append(qemu_loop(files))
            s_times.append(timed(scan_cmd(d400))[0])
            g_times.append(timed([*VHDXRAY, "scan", "--json", str(d400)])[0])
        q_min, q_med = stats(q_times)
        s_min, s_med = stats(s_times)
        g_min, g_med = stats(g_times)
        out += [
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
            f"{platform.python_version()}; {args.runs} runs each, interleaved; vhdxray with "
            f"{bytecode}; "
            f"{master.stat().st_size // 1024} KiB images (hard links of one image made by "
            "vhdxray's writer), page cache warm for every tool.",
            "",
            "| 400 images | min s | median s | images/s (median) |",
            "|---|---|---|---|",
            f"| `qemu-img check` loop | {q_min:.2f} | {q_med:.2f} | {400 / q_med:.0f} |",
            f"| `vhdxray scan --json` (one process, start-up included) | {s_min:.2f} | "
            f"{s_med:.2f} | {400 / s_med:.0f} |",
            f"| `vhdxray scan --json` with guest triage (the default) | {g_min:.2f} | "
            f"{g_med:.2f} | {400 / g_med:.0f} |",
            "",
            f"Throughput ratio (median): **{q_med / s_med:.1f}x** the qemu-img loop "
            f"(min/min: {q_min / s_min:.1f}x) with `--no-guest`; **{q_med / g_med:.1f}x** "
            f"(min/min: {q_min / g_min:.1f}x) with guest triage (the default).",
            "",
        ]
        if args.ratio_only:
            print("\n".join(out))
            return 0
        # 2. --jobs
        out += ["| 400 images | min s | median s | images/s (median) |", "|---|---|---|---|"]
        for label, extra in [
            ("--jobs 1", ["--jobs", "1"]),
            ("--jobs 2", ["--jobs", "2"]),
            ("--jobs 4", ["--jobs", "4"]),
            ("--jobs 8", ["--jobs", "8"]),
            ("--jobs 2 --processes", ["--jobs", "2", "--processes"]),
        ]:
            lo, med = stats([timed(scan_cmd(d400, *extra))[0] for _ in range(args.runs)])
            out.append(f"| `{label}` | {lo:.2f} | {med:.2f} | {400 / med:.0f} |")
        out.append("")
        # 3. image count, 4. memory
        out += ["| images | scan | min s | median s | images/s (median) | peak RSS MiB |"]
        out += ["|---|---|---|---|---|---|"]
        for count in [n for n in (100, 400, 2000, 10_000) if n <= args.max]:
            folder = make_images(base / f"n{count}", count, master)
            repeat = args.runs if count <= 2000 else 1
            for label, cmd in (
                ("--no-guest", scan_cmd(folder)),
                ("default (guest)", [*VHDXRAY, "scan", "--json", str(folder)]),
            ):
                runs = [timed(cmd) for _ in range(repeat)]
                lo, med = stats([r[0] for r in runs])
                rss = max(r[1] for r in runs) / 1024
                out.append(
                    f"| {count} | {label} | {lo:.2f} | {med:.2f} | {count / med:.0f} | {rss:.0f} |"
                )
        out.append("")
    finally:
        shutil.rmtree(base, ignore_errors=True)
    text = "\n".join(out)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

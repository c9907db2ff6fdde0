"""Benchmark ``vhdxray check --json`` against ``qemu-img check`` and ``vhdiinfo``.

All tools run on the same qemu-img-made images (64 MiB with data, and 64 TiB) in one run,
interleaved, as separate processes. Reported: median wall time, peak RSS (from wait4), and
their ratios to qemu-img. Also: vhdxray's own analysis time inside one process (after
start-up), and the bare interpreter start (``python -c pass``) as the floor any Python tool
pays.

By default vhdxray is installed into a fresh virtual environment from this checkout with a
normal (non-editable) ``pip install``, so it runs with compiled bytecode the way users get it.

    python bench/bench_check.py [--runs 15] [--write] [--use-current]

``--write`` replaces the check section of docs/PERFORMANCE.md.
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PERFORMANCE.md"
START, END = "<!-- bench_check:start -->", "<!-- bench_check:end -->"

ANALYSIS = r"""
import statistics, sys, time
from vhdxray.core.analysis.reader import read_report
path = sys.argv[1]
read_report(path)
samples = []
for _ in range(int(sys.argv[2])):
    t = time.perf_counter(); read_report(path); samples.append(time.perf_counter() - t)
print(statistics.median(samples) * 1000)
"""


TIME = shutil.which("time") or "/usr/bin/time"


def run_once(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run.

    The RSS comes from GNU time (``%M``) when it is installed: rusage taken from Python's
    own wait4 would count the forked child's copy of this benchmark process before exec.
    """
    use_time = os.path.exists(TIME)
    full = [TIME, "-f", "%M", *cmd] if use_time else cmd
    start = time.perf_counter()
    proc = subprocess.Popen(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = proc.communicate()
    wall = time.perf_counter() - start
    if use_time:
        return wall, int(err.decode().strip().splitlines()[-1])
    return wall, 0


def make_venv(folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    python = folder / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(ROOT)],
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    return python


def make_images(folder: Path) -> dict[str, Path]:
    small = folder / "64M.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(small), "64M"], check=True)
    subprocess.run(
        [
            "qemu-io",
            "-f",
            "vhdx",
            "-c",
            "write -P 0xa5 0 16M",
            "-c",
            "write -P 0x5a 40M 8M",
            str(small),
        ],
        check=True,
        capture_output=True,
    )
    big = folder / "64T.vhdx"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(big), "64T"], check=True)
    return {"64 MiB (24 MiB written)": small, "64 TiB (empty, 1 M BAT entries)": big}


def measure(python: Path, images: dict[str, Path], runs: int) -> list[dict[str, object]]:
    vhdxray = python.with_name("vhdxray")
    rows: list[dict[str, object]] = []
    for label, image in images.items():
        tools = {
            "vhdxray check --json": [str(vhdxray), "check", "--json", str(image)],
            "qemu-img check": ["qemu-img", "check", "-f", "vhdx", str(image)],
            "vhdiinfo": ["vhdiinfo", str(image)],
            "python -c pass (floor)": [str(python), "-c", "pass"],
        }
        tools = {k: v for k, v in tools.items() if shutil.which(v[0]) or Path(v[0]).exists()}
        samples: dict[str, list[tuple[float, int]]] = {k: [] for k in tools}
        for cmd in tools.values():  # warm the page cache and the bytecode
            run_once(cmd)
        for _ in range(runs):
            for name, cmd in tools.items():
                samples[name].append(run_once(cmd))
        analysis = float(
            subprocess.run(
                [str(python), "-c", ANALYSIS, str(image), str(runs)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        base = samples.get("qemu-img check")
        base_wall = statistics.median(s[0] for s in base) if base else None
        base_rss = statistics.median(s[1] for s in base) if base else None
        for name, values in samples.items():
            wall = statistics.median(s[0] for s in values)
            rss = statistics.median(s[1] for s in values)
            rows.append(
                {
                    "image": label,
                    "tool": name,
                    "wall_ms": wall * 1000,
                    "rss_mib": rss / 1024,
                    "wall_ratio": wall / base_wall if base_wall else None,
                    "rss_ratio": rss / base_rss if base_rss else None,
                }
            )
        rows.append(
            {
                "image": label,
                "tool": "vhdxray analysis only (in process)",
                "wall_ms": analysis,
                "rss_mib": None,
                "wall_ratio": None,
                "rss_ratio": None,
            }
        )
    return rows


def markdown(rows: list[dict[str, object]], runs: int) -> str:
    def fmt(value: object, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    qemu = subprocess.run(["qemu-img", "--version"], capture_output=True, text=True)
    qemu_version = qemu.stdout.splitlines()[0]
    lines = [
        START,
        f"Measured {time.strftime('%Y-%m-%d')} by `bench/bench_check.py --runs {runs}` on "
        f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{qemu_version}. "
        "Median of the runs, interleaved; peak memory is the process's maximum RSS (GNU time "
        "%M). Wall times include process start-up.",
        "",
        "| image | tool | wall time | × qemu-img | peak memory | × qemu-img |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['tool']} | {fmt(r['wall_ms'], '.1f')} ms | "
            f"{fmt(r['wall_ratio'], '.1f')} | {fmt(r['rss_mib'], '.1f')} MiB | "
            f"{fmt(r['rss_ratio'], '.1f')} |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="update docs/PERFORMANCE.md")
    parser.add_argument(
        "--use-current",
        action="store_true",
        help="measure the vhdxray installed beside this interpreter",
    )
    args = parser.parse_args()
    if not shutil.which("qemu-img"):
        print("qemu-img is required (apt-get install qemu-utils)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="vhdxray-bench-") as tmp:
        folder = Path(tmp)
        python = Path(sys.executable) if args.use_current else make_venv(folder / "venv")
        rows = measure(python, make_images(folder), args.runs)
    table = markdown(rows, args.runs)
    print(table)
    if args.write:
        text = DOC.read_text() if DOC.exists() else ""
        if START in text and END in text:
            text = text[: text.index(START)] + table + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip() + "\n\n" + table + "\n"
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

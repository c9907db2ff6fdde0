"""How fast the app shows an image, and how fast the header update comes back.

    /work/venv/bin/python bench/tui_startup.py [--runs N] [--size 64T]

Makes a ``qemu-img create -f vhdx x 64T`` image (the largest VHDX: a 1 Mi-entry BAT) in a
temporary folder and measures, each as the median of N runs:

1. headless: wall time from spawning ``python`` (a probe that subclasses the app and exits
   on Textual's ``Ready`` event, sent once the first frame is composed) to its "ready" line;
2. real terminal: wall time from ``tmux respawn-pane`` running the installed ``vhdxray IMAGE``
   to the header panels being visible in ``capture-pane`` (polled every 5 ms), in a private
   tmux server at 120x40;
3. the update action, from pressing ``y`` in the confirmation to the refreshed view with the
   "Headers updated" line: in-process with Pilot (headless), and in tmux;
4. for reference: ``import vhdxray.tui.app`` and ``read_report`` alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PROBE = r"""
import os, sys
from pathlib import Path
from vhdxray.tui.app import VhdxrayApp

class Probe(VhdxrayApp):
    def on_ready(self) -> None:
        os.write(1, b"READY\n")
        self.exit()

Probe(Path(sys.argv[1])).run(headless=True, size=(120, 40))
"""

VISIBLE = "Slot 1 (64 KiB)"


PYCACHE: str | None = None  # set by main(): where compiled bytecode is kept between runs


def clean_env() -> dict[str, str]:
    """The environment a user's shell has: no COLUMNS/LINES or TEXTUAL_* from a harness, and
    bytecode caching on (an installed tool has .pyc files; PYTHONDONTWRITEBYTECODE=1 in a
    development shell would recompile every module on every start)."""
    drop = ("COLUMNS", "LINES", "TMUX", "TMUX_PANE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("TEXTUAL")}
    if PYCACHE is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = PYCACHE
    return env


def median_ms(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (
        f"median {statistics.median(ms):6.0f} ms  (min {ms[0]:.0f}, max {ms[-1]:.0f}, n={len(ms)})"
    )


def headless_first_paint(image: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", PROBE, str(image)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=clean_env(),
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        elapsed = time.perf_counter() - start
        proc.wait(timeout=30)
        if line.strip() != b"READY":
            raise RuntimeError("the probe did not report ready")
        times.append(elapsed)
    return times


class Tmux:
    def __init__(self) -> None:
        self.server = f"vhdxray-bench-{uuid.uuid4().hex[:10]}"
        self.run("new-session", "-d", "-s", "bench", "-x", "120", "-y", "40", "sleep 3600")

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.server, *args],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        )
        return done.stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "bench")

    def wait_for(self, text: str, timeout: float = 20.0, poll: float = 0.005) -> float:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if text in self.screen():
                return time.perf_counter()
            time.sleep(poll)
        raise RuntimeError(f"{text!r} did not appear; screen:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)


def tmux_runs(image: Path, runs: int) -> tuple[list[float], list[float]]:
    command = str(Path(sys.executable).parent / "vhdxray")
    paint: list[float] = []
    update: list[float] = []
    tmux = Tmux()
    try:
        for _ in range(runs):
            tmux.run("respawn-pane", "-k", "-t", "bench", "clear; sleep 0.3; exec sleep 3600")
            time.sleep(0.5)  # a quiet, cleared pane
            start = time.perf_counter()
            tmux.run("respawn-pane", "-k", "-t", "bench", f"{command} {image}; sleep 3600")
            paint.append(tmux.wait_for(VISIBLE) - start)
            time.sleep(0.3)
            tmux.run("send-keys", "-t", "bench", "u")
            tmux.wait_for("Write these two headers?")
            start = time.perf_counter()
            tmux.run("send-keys", "-t", "bench", "y")
            update.append(tmux.wait_for("Headers updated") - start)
            tmux.run("send-keys", "-t", "bench", "q")
            time.sleep(0.3)
    finally:
        tmux.close()
    return paint, update


async def pilot_update(image: Path) -> float:
    """In-app time from the confirmation's answer to the refreshed view (the app measures it:
    worker start, backup, two writes with fsync and read-back, re-read, views updated)."""
    from contextlib import suppress

    from textual.worker import WorkerCancelled, WorkerFailed

    from vhdxray.tui.app import VhdxrayApp

    app = VhdxrayApp(image)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("u", "y")
        with suppress(WorkerFailed, WorkerCancelled):
            await app.workers.wait_for_complete()
        await pilot.pause()
        if app.write_seconds is None:
            raise RuntimeError("the update did not finish")
        return app.write_seconds


def reference(image: Path, runs: int) -> tuple[list[float], list[float]]:
    imports, reads = [], []
    code = (
        "import time; t = time.perf_counter(); import vhdxray.tui.app; "
        "print(time.perf_counter() - t)"
    )
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
        )
        imports.append(float(out.stdout))
    from vhdxray.core.analysis.reader import read_report

    for _ in range(runs):
        start = time.perf_counter()
        read_report(image)
        reads.append(time.perf_counter() - start)
    return imports, reads


def main() -> int:
    global PYCACHE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--size", default="64T")
    parser.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep the environment's bytecode setting (PYTHONDONTWRITEBYTECODE=1: cold starts)",
    )
    args = parser.parse_args()
    if shutil.which("qemu-img") is None:
        print("qemu-img is required", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="vhdxray-bench-") as tmp:
        image = Path(tmp) / "big.vhdx"
        if not args.no_bytecode_cache:
            PYCACHE = str(Path(tmp) / "pycache")
            subprocess.run(  # compile everything once, as an install would
                [sys.executable, "-c", "import vhdxray.tui.app, vhdxray.tui.cli"],
                env=clean_env(),
                check=True,
            )
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "vhdx", str(image), args.size], check=True
        )
        print(f"image: qemu-img create -f vhdx {args.size} ({image.stat().st_size} bytes on disk)")
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, bytecode cache: "
            f"{'off (cold compile)' if PYCACHE is None else 'on (as installed)'}"
        )
        imports, reads = reference(image, args.runs)
        print(f"import vhdxray.tui.app           {median_ms(imports)}")
        print(f"read_report                      {median_ms(reads)}")
        print(
            f"first paint, headless            {median_ms(headless_first_paint(image, args.runs))}"
        )
        updates = [asyncio.run(pilot_update(image)) for _ in range(args.runs)]
        print(f"update y -> refreshed, in-app    {median_ms(updates)}")
        if shutil.which("tmux") is None:
            print("tmux is missing: real-terminal numbers skipped")
            return 0
        paint, update = tmux_runs(image, args.runs)
        print(f"first paint, tmux 120x40         {median_ms(paint)}")
        print(f"update y -> refreshed, tmux      {median_ms(update)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

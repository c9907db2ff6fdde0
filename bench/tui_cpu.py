"""CPU seconds the app spends per boot and per typical interaction (headless, in one process).

    python bench/tui_cpu.py [--runs N] [--size WxH] [--image PATH] [--profile FILE]

Measures ``time.process_time()`` (user + system CPU of the whole process, threads included)
around each step, with the app driven by Textual's Pilot as the tests drive it, and prints the
minimum over ``--runs`` repetitions (the minimum: the machine is shared, and other load only
ever adds). Wall time is not measured: CPU is what a loaded test run or a slow SSH link pays.

Steps, on each image:

- boot: ``VhdxrayApp(image)`` (reads the image), ``run_test`` and the first ``pause()`` (the
  first frame is composed and painted); ``exit``: leaving ``run_test``;
- view: ``4`` (the Log view: plans the repairs the first time) then ``1`` back to Headers;
- help: ``?`` opens the help dialog, Escape closes it;
- repair menu: ``R`` opens it, Escape closes it;
- confirm: ``u`` opens the header update's confirmation, ``n`` answers no;
- reload: ``r`` (re-reads the image: every view is refilled, and a notification shows).

Images (made in a temporary folder): ``qemu``: ``qemu-img create -f vhdx 64M`` with 24 MiB
written by ``qemu-io`` (skipped without them); ``damaged``: a 64 MiB image made by vhdxray
whose header slot 2 fails its checksum. ``--image`` measures one given image instead.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

SIZE = (120, 40)

Step = Callable[[Any], Awaitable[None]]


async def _keys(pilot: Any, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()


STEPS: dict[str, Step] = {
    "view 4 and back to 1": lambda p: _keys(p, "4", "1"),
    "help dialog open+close": lambda p: _keys(p, "question_mark", "escape"),
    "repair menu open+close": lambda p: _keys(p, "R", "escape"),
    "confirm u, answer n": lambda p: _keys(p, "u", "n"),
    "reload r": lambda p: _keys(p, "r"),
}


def make_images(folder: Path) -> dict[str, Path]:
    from vhdxray.core.format import layout
    from vhdxray.core.write.create import CreateOptions, create_image

    images: dict[str, Path] = {}
    if shutil.which("qemu-img") and shutil.which("qemu-io"):
        qemu = folder / "qemu.vhdx"
        subprocess.run(["qemu-img", "create", "-q", "-f", "vhdx", str(qemu), "64M"], check=True)
        subprocess.run(
            ["qemu-io", "-f", "vhdx", "-c", "write -P 0x11 0 24M", str(qemu)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        images["qemu"] = qemu
    damaged = folder / "damaged.vhdx"
    opts = CreateOptions(virtual_size=64 * layout.MiB, block_size=layout.MiB, creator="bench")
    create_image(damaged, opts, data=[(0, b"vhdxray bench disk\n".ljust(512, b"\0"))])
    with open(damaged, "r+b") as f:  # break slot 2's checksum: slot 1 stays current
        offset = layout.HEADER_SLOT_OFFSETS[1] + 4
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0xFF]))
    images["damaged"] = damaged
    return images


async def measure(image: Path, runs: int, size: tuple[int, int]) -> dict[str, float]:
    from vhdxray.tui.app import VhdxrayApp
    from vhdxray.tui.screens.main import MainScreen

    MainScreen.guest_inline = True  # as the app tests: no thread timing in the figures
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(seconds, best.get(name, seconds))

    for _ in range(runs):
        start = time.process_time()
        app = VhdxrayApp(image)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            keep("boot", time.process_time() - start)
            for name, step in STEPS.items():
                start = time.process_time()
                await step(pilot)
                keep(name, time.process_time() - start)
            start = time.process_time()
        keep("exit", time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}")
    parser.add_argument("--image", type=Path, help="measure this image only")
    parser.add_argument("--profile", help="write a cProfile of every run to this file")
    args = parser.parse_args()
    width, height = (int(n) for n in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="vhdxray-tuicpu-") as tmp:
        images = {"given": args.image} if args.image else make_images(Path(tmp))
        warm = next(iter(images.values()))
        asyncio.run(measure(warm, 1, (width, height)))  # imports, first-time caches
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {width}x{height}, ", end="")
        print(f"min of {args.runs} runs, CPU seconds (process_time)")
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        results = {
            name: asyncio.run(measure(p, args.runs, (width, height))) for name, p in images.items()
        }
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        names = list(results)
        print(f"{'step':28}" + "".join(f"{n:>10}" for n in names))
        for step in ("boot", *STEPS, "exit"):
            print(f"{step:28}" + "".join(f"{results[n][step]:10.3f}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Export screenshots of the app's main states: SVG (from Textual) and PNG (rsvg-convert).

    /work/venv/bin/python scripts/screenshots.py [OUTPUT_DIR]    (default: screenshots/)

Every state is driven through the real app with ``run_test`` at 120x40. Images are made
deterministic the way the snapshot tests do it (vhdxray's writer with fixed GUIDs, real images
from ../shared, fixed display names and backup names), so re-running gives the same files.
States that need the real images are skipped when ../shared is absent.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.worker import WorkerCancelled, WorkerFailed  # noqa: E402

from tests import imagefiles  # noqa: E402
from tests.tui.helpers import (  # noqa: E402
    HOSTILE_CREATOR,
    fixed_backup_name,
    guid_sequence,
    make_image,
    rebind_everywhere,
)
from vhdxray.tui.app import VhdxrayApp  # noqa: E402

SIZE = (120, 40)

Steps = Callable[[Pilot[int]], Awaitable[None]]


async def _nothing(pilot: Pilot[int]) -> None:
    await pilot.pause()


def _press(*keys: str) -> Steps:
    async def steps(pilot: Pilot[int]) -> None:
        await pilot.press(*keys)
        await pilot.pause()

    return steps


async def _update(pilot: Pilot[int]) -> None:
    await pilot.press("u", "y")
    await pilot.pause()
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@dataclass(frozen=True)
class Shot:
    name: str
    image: str  # "bad-slot", "clean", "hostile", "mbr", or a real image name
    display: str
    steps: Steps = _nothing


SHOTS = (
    Shot("main-bad-slot", "bad-slot", "bad-slot.vhdx"),
    Shot("confirm-update", "bad-slot", "bad-slot.vhdx", _press("u")),
    Shot("after-update", "bad-slot", "bad-slot.vhdx", _update),
    Shot("clean", "clean", "clean.vhdx"),
    Shot("no-current-header", "qemu-disk2vhd", "test-disk2vhd.vhdx"),
    Shot("pending-log", "discutils-log-replay", "vhdx-log-replay.vhdx"),
    Shot("pending-log-refused", "discutils-log-replay", "vhdx-log-replay.vhdx", _press("u")),
    Shot("log-view", "discutils-log-replay", "vhdx-log-replay.vhdx", _press("4")),
    Shot("hex-view", "bad-slot", "bad-slot.vhdx", _press("7")),
    Shot("regions-view", "bad-slot", "bad-slot.vhdx", _press("2")),
    Shot("findings-view", "qemu-disk2vhd", "test-disk2vhd.vhdx", _press("6")),
    Shot("not-vhdx", "mbr", "disk.img"),
    Shot("hostile-creator", "hostile", "hostile.vhdx"),
    Shot("help", "clean", "clean.vhdx", _press("question_mark")),
)


def _deterministic() -> None:
    """What the snapshot tests' fixtures do: fixed GUIDs and backup names. (Run before each
    state; the original functions stay reachable through vhdxray.core.guid/backup.)"""
    rebind_everywhere("new_guid", guid_sequence())
    rebind_everywhere("backup_name", fixed_backup_name)


def _image(kind: str, folder: Path, cache: Path) -> Path | None:
    _deterministic()
    if kind == "bad-slot":
        return make_image(folder / "bad-slot.vhdx", damaged_slot=2)
    if kind == "clean":
        return make_image(folder / "clean.vhdx")
    if kind == "hostile":
        return make_image(folder / "hostile.vhdx", creator=HOSTILE_CREATOR)
    if kind == "mbr":
        data = bytearray(1 << 20)
        data[446 + 4] = 0x83
        data[510:512] = b"\x55\xaa"
        (folder / "disk.img").write_bytes(bytes(data))
        return folder / "disk.img"
    if not imagefiles.real_image_available():
        return None
    cached = imagefiles.unpack_real(kind, cache)
    return imagefiles.copy_sparse(cached, folder / cached.name)


def png_ready(svg: str) -> str:
    """The SVG as rsvg-convert should see it: a monospace font it has (Fira Code is not
    installed, and fontconfig would substitute a proportional one), and plain spaces kept
    with xml:space (rsvg drops leading no-break spaces of a text run)."""
    svg = svg.replace("font-family: Fira Code, monospace;", 'font-family: "DejaVu Sans Mono";')
    svg = svg.replace("<svg ", '<svg xml:space="preserve" ', 1)
    return svg.replace("&#160;", " ")


async def take(shot: Shot, out: Path, cache: Path) -> Path | None:
    with tempfile.TemporaryDirectory(prefix="vhdxray-shot-") as tmp:
        image = _image(shot.image, Path(tmp), cache)
        if image is None:
            print(f"skip {shot.name}: real images not found at {imagefiles.REAL_DIR}")
            return None
        app = VhdxrayApp(image, display_name=shot.display)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await shot.steps(pilot)
            await pilot.wait_for_scheduled_animations()
            await pilot.pause()
            svg = app.export_screenshot(title=f"vhdxray {shot.display}")
    svg_path = out / f"{shot.name}.svg"
    svg_path.write_text(svg, encoding="utf-8")
    png_path = out / f"{shot.name}.png"
    subprocess.run(
        ["rsvg-convert", "-o", str(png_path)],
        input=png_ready(svg).encode("utf-8"),
        check=True,
    )
    return png_path


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "screenshots"
    if shutil.which("rsvg-convert") is None:
        print("rsvg-convert is missing (apt-get install librsvg2-bin)", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vhdxray-real-") as cache:
        for shot in SHOTS:
            path = asyncio.run(take(shot, out, Path(cache)))
            if path is not None:
                print(
                    f"wrote {path.relative_to(out.parent) if out.parent in path.parents else path}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

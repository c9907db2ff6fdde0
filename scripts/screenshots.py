"""Export screenshots of the app's main states: SVG (from Textual) and PNG (rsvg-convert).

    /work/venv/bin/python scripts/screenshots.py [OUTPUT_DIR]    (default: screenshots/)

Every state is driven through the real app with ``run_test`` at 120x40. Images are made
deterministic the way the snapshot tests do it (vhdxray's writer with fixed GUIDs, real images
from ../shared, fixed display names and backup names), so re-running gives the same files.
States that need the real images are skipped when ../shared is absent.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402
from textual.worker import WorkerCancelled, WorkerFailed  # noqa: E402

from tests import damage, imagefiles  # noqa: E402
from tests.tui.helpers import (  # noqa: E402
    HOSTILE_CREATOR,
    fixed_backup_name,
    guid_sequence,
    make_image,
    rebind_everywhere,
)
from vhdxray.core.format.layout import MiB  # noqa: E402
from vhdxray.core.write.create import CreateOptions, create_image  # noqa: E402
from vhdxray.tui.app import VhdxrayApp  # noqa: E402
from vhdxray.tui.screens.main import MainScreen  # noqa: E402

SIZE = (120, 40)
SMALL = (80, 24)
UNKNOWN_REGION = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")

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


async def _replay(pilot: Pilot[int]) -> None:
    await pilot.press("l", "y")
    await pilot.pause()
    with suppress(WorkerFailed, WorkerCancelled):
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _progress(pilot: Pilot[int]) -> None:
    """The progress dialog as a long replay into a copy shows it (a fixed point in time)."""
    from vhdxray.core.progress import Progress
    from vhdxray.tui.screens.progress import ProgressScreen

    now = [0.0]
    progress = Progress(clock=lambda: now[0])
    progress.start(1536 * MiB, "copying the image")
    progress.advance(512 * MiB)
    now[0] = 4.0
    screen: ProgressScreen[int] = ProgressScreen(
        "Replay the pending log (into a copy)",
        lambda p: 0,
        progress=progress,
        start=False,
        note="Cancel removes the new copy; the original is never written.",
    )
    await pilot.app.push_screen(screen)
    await pilot.pause()


async def _backups(pilot: Pilot[int]) -> None:
    await _update(pilot)
    await pilot.press("b")
    await pilot.pause()


@dataclass(frozen=True)
class Shot:
    name: str
    image: str  # "bad-slot", "clean", "hostile", "mbr", "regions-differ", "cut", or a real one
    display: str
    steps: Steps = _nothing
    size: tuple[int, int] = SIZE


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
    Shot("repair-menu", "discutils-log-replay", "vhdx-log-replay.vhdx", _press("R")),
    Shot("confirm-replay", "discutils-log-replay", "vhdx-log-replay.vhdx", _press("l")),
    Shot("after-replay", "discutils-log-replay", "vhdx-log-replay.vhdx", _replay),
    Shot("findings-repairs", "discutils-log-replay", "vhdx-log-replay.vhdx", _press("6")),
    Shot("choose-region-copy", "regions-differ", "regions.vhdx", _press("R", "1")),
    Shot("choose-header-slot", "qemu-disk2vhd", "test-disk2vhd.vhdx", _press("R", "1")),
    Shot("truncation-map", "cut", "cut.vhdx", _press("5")),
    # Issue 13: real terminal sizes, users' images, the newer screens.
    Shot("small-slot1-bad", "slot1-bad", "slot1-bad.vhdx", size=SMALL),
    Shot("small-confirm-update", "slot1-bad", "slot1-bad.vhdx", _press("u"), SMALL),
    Shot("small-confirm-replay", "discutils-log-replay", "dirty-log.vhdx", _press("l"), SMALL),
    Shot("small-dirty-log", "discutils-log-replay", "dirty-log.vhdx", size=SMALL),
    Shot("qemu-quirk", "qemu", "qemu-made.vhdx", size=(100, 30)),
    Shot("windows", "velociraptor", "windows-server.vhdx"),
    Shot("truncated", "cut", "cut.vhdx"),
    Shot("truncated-metadata", "cut-early", "cut-early.vhdx", _press("3")),
    Shot("child-parent-missing", "dissect-differencing", "child.avhdx"),
    Shot("chain-view", "dissect-differencing", "child.avhdx", _press("8")),
    Shot("progress", "discutils-log-replay", "dirty-log.vhdx", _progress),
    Shot("backups", "bad-slot", "bad-slot.vhdx", _backups),
    Shot("open-image", "bad-slot", "bad-slot.vhdx", _press("o"), SMALL),
)


def _deterministic() -> None:
    """What the snapshot tests' fixtures do: fixed GUIDs and backup names. (Run before each
    state; the original functions stay reachable through vhdxray.core.format.guid/backup.)"""
    rebind_everywhere("new_guid", guid_sequence())
    rebind_everywhere("backup_name", fixed_backup_name)
    MainScreen.guest_inline = True  # the guest headline in the frame, not after a thread


def _image(kind: str, folder: Path, cache: Path) -> Path | None:
    _deterministic()
    if kind == "bad-slot":
        return make_image(folder / "bad-slot.vhdx", damaged_slot=2)
    if kind == "clean":
        return make_image(folder / "clean.vhdx")
    if kind == "slot1-bad":
        return make_image(folder / "slot1-bad.vhdx", damaged_slot=1)
    if kind == "qemu":  # a healthy image as QEMU makes it (with its harmless quirk)
        if not imagefiles.have("qemu-img"):
            return None
        return imagefiles.qemu_img_create(folder / "qemu-made.vhdx", "1G")
    if kind == "cut-early":  # cut inside the log: the metadata and the BAT are gone
        image = make_image(folder / "cut-early.vhdx")
        damage.truncate(image, 0x180000)
        return image
    if kind == "hostile":
        return make_image(folder / "hostile.vhdx", creator=HOSTILE_CREATOR)
    if kind == "regions-differ":  # both copies valid, copy 2 lists one more region
        image = make_image(folder / "regions.vhdx")
        damage.set_region_count(image, 2, 3, fix_crc=False)
        damage.set_region_entry(
            image, 2, 2, guid=UNKNOWN_REGION, file_offset=4 * MiB, length=MiB, required=0
        )
        return image
    if kind == "cut":  # 8 blocks of data, the last 2.5 MiB of the file missing
        data = [(b * MiB, bytes([0x10 + b]) * MiB) for b in range(8)]
        opts = CreateOptions(virtual_size=64 * MiB, block_size=MiB, creator="vhdxray test")
        image = create_image(folder / "cut.vhdx", opts, data=data)
        damage.truncate(image, image.stat().st_size - 2 * MiB - 512 * 1024)
        return image
    if kind == "mbr":
        sector = bytearray(1 << 20)
        sector[446 + 4] = 0x83
        sector[510:512] = b"\x55\xaa"
        (folder / "disk.img").write_bytes(bytes(sector))
        return folder / "disk.img"
    if not imagefiles.real_image_available():
        return None
    cached = imagefiles.unpack_real(kind, cache)
    return imagefiles.copy_sparse(cached, folder / cached.name)


async def _drive(app: VhdxrayApp, shot: Shot) -> str:
    async with app.run_test(size=shot.size) as pilot:
        await pilot.pause()
        await shot.steps(pilot)
        await pilot.wait_for_scheduled_animations()
        await pilot.pause()
        return app.export_screenshot(title=f"vhdxray {shot.display}")


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
        cwd = Path.cwd()
        os.chdir(tmp)  # the file picker shows paths relative to here
        try:
            svg = await _drive(app, shot)
        finally:
            os.chdir(cwd)
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

"""A folder tree of real files for the scan tests: every kind of file a share can hold.

Made in the test with qemu-img (when installed), vhdxray's own writer and tests/damage.py.
``expected`` maps every file the default scan must report (with ``--include '*.vhd'``) to a
short tag; files the scan must NOT report (outside the tree, excluded names) are listed too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests import damage, imagefiles
from tests.tui.helpers import make_image
from vhdxray.core.format import layout
from vhdxray.core.write.create import create_child

CONTROL_NAME = "ctl\x1b[31mred\x07.vhdx"
"""A file name with an ESC sequence and a BEL: JSON must escape them, the terminal never sees
them raw."""


@dataclass
class Tree:
    root: Path
    expected: dict[str, str] = field(default_factory=dict)  # path -> tag
    outside: list[str] = field(default_factory=list)  # must never be reported
    fifo: str | None = None

    def add(self, path: Path, tag: str) -> Path:
        self.expected[str(path)] = tag
        return path


def build_tree(base: Path, *, qemu: bool = True) -> Tree:
    """The tree under ``base/share``; qemu-made files only when ``qemu`` (and qemu-img)."""
    root = base / "share"
    (root / "users" / "alice").mkdir(parents=True)
    (root / "users" / "bob").mkdir(parents=True)
    (root / "chains").mkdir()
    (root / "broken").mkdir()
    tree = Tree(root)
    users = root / "users"

    tree.add(make_image(users / "alice" / "Profile_alice.vhdx"), "clean")
    tree.add(make_image(users / "bob" / "Profile_bob.VHDX", damaged_slot=2), "damaged-header")
    region = tree.add(make_image(root / "broken" / "region.vhdx"), "damaged-region")
    damage.break_region_checksum(region, 1)
    both = tree.add(make_image(root / "broken" / "both-headers.vhdx"), "no-valid-header")
    damage.break_header_checksum(both, 1)
    damage.break_header_checksum(both, 2)
    cut = tree.add(make_image(root / "broken" / "cut.vhdx"), "truncated")
    damage.truncate(cut, layout.HEADER_SECTION_SIZE // 2)
    text = tree.add(root / "broken" / "notes.vhdx", "not-vhdx")
    text.write_text("this is not a disk image\n")
    tree.add(root / "broken" / "empty.avhdx", "empty").write_bytes(b"")
    zeros = tree.add(root / "broken" / "wiped.vhdx", "zeros")
    with open(zeros, "wb") as f:
        f.truncate(2 * layout.MiB)
    tree.add(make_image(root / CONTROL_NAME), "control-name")

    # Differencing chains: parent present; parent missing; parent replaced (mismatch).
    parent = tree.add(make_image(root / "chains" / "base.vhdx"), "parent")
    tree.add(create_child(root / "chains" / "child.avhdx", parent), "child-found")
    lost_parent = make_image(base / "lost-parent.vhdx")
    orphan = tree.add(root / "chains" / "orphan.avhdx", "child-missing")
    create_child(base / "orphan.avhdx", lost_parent)
    shutil.move(base / "orphan.avhdx", orphan)  # the locator's relative path now leads nowhere
    other = base / "swap"
    other.mkdir()
    old_parent = make_image(other / "swapped-base.vhdx")
    create_child(other / "swapped-child.avhdx", old_parent)
    old_parent.unlink()
    make_image(other / "swapped-base.vhdx")  # same name, a different disk: the link breaks
    shutil.move(other / "swapped-base.vhdx", root / "chains" / "swapped-base.vhdx")
    shutil.move(other / "swapped-child.avhdx", root / "chains" / "swapped-child.avhdx")
    tree.add(root / "chains" / "swapped-base.vhdx", "parent")
    tree.add(root / "chains" / "swapped-child.avhdx", "child-mismatch")

    # Links: a folder link out of the tree and a folder link loop (neither followed), a file
    # link loop and a dangling file link (each a line of its own).
    outside = base / "elsewhere"
    outside.mkdir()
    tree.outside.append(str(make_image(outside / "outside.vhdx")))
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    (root / "users" / "loop").symlink_to(root / "users", target_is_directory=True)
    (root / "broken" / "a-loop.vhdx").symlink_to(root / "broken" / "b-loop.vhdx")
    (root / "broken" / "b-loop.vhdx").symlink_to(root / "broken" / "a-loop.vhdx")
    tree.add(root / "broken" / "a-loop.vhdx", "link-loop")
    tree.add(root / "broken" / "b-loop.vhdx", "link-loop")
    (root / "broken" / "dangling.vhdx").symlink_to(base / "nothing-here.vhdx")
    tree.add(root / "broken" / "dangling.vhdx", "dangling")
    fifo = root / "broken" / "pipe.vhdx"
    os.mkfifo(fifo)
    tree.fifo = str(tree.add(fifo, "fifo"))

    # Names the default patterns skip.
    (root / "users" / "readme.txt").write_text("not scanned\n")
    tree.outside.append(str(root / "users" / "readme.txt"))

    if qemu and imagefiles.have("qemu-img"):
        tree.add(imagefiles.qemu_img_create(root / "users" / "qemu.vhdx", "64M"), "qemu-clean")
        vhd = tree.add(root / "users" / "legacy.vhd", "vhd")
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "vpc", str(vhd), "16M"],
            check=True,
            capture_output=True,
        )
    return tree

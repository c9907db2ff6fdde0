"""What ``vhdxray check``/``info`` import (issue 9): nothing they do not run.

A regression guard for start-up cost, not a timing: each module named here cost measurable
start-up (uuid pulls in platform; dataclasses pulls in inspect, ast, dis and tokenize;
humanize pulls in gettext and threading; argparse's help formatter pulls in shutil; typing,
enum, re and json were most of what was left: annotations stay unevaluated, core's StrEnum is
enum.StrEnum only to type checkers, core.jsontext.dumps writes json's text)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import repairimages as ri
from tests.conftest import require
from vhdxray.core.format import layout
from vhdxray.core.write.create import CreateOptions, create_image

NOT_ON_THE_CHECK_PATH = (
    "uuid",
    "platform",
    "dataclasses",
    "inspect",
    "pathlib",
    "humanize",
    "hashlib",
    "argparse",
    "textual",
    "rich",
    "typing",
    "enum",
    "re",
    "json",
)

NOT_FOR_AN_EMPTY_DISK = (
    "vhdxray.core.analysis.virtual",
    "vhdxray.core.analysis.logoverlay",
)

PROBE = (
    "import sys, io, contextlib\n"
    "names = {names!r}\n"
    "# An editable install's finder imports pathlib, re and enum in site: forget the modules\n"
    "# named here (not their submodules), so that an import of one by vhdxray loads it again.\n"
    "for name in names:\n"
    "    sys.modules.pop(name, None)\n"
    "before = set(sys.modules)\n"
    "from vhdxray.tui.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[1:])\n"
    "bad = sorted(m for m in names if m in sys.modules and m not in before)\n"
    "assert code == 0, code\n"
    "assert not bad, bad\n"
)


@pytest.mark.parametrize(
    "args", [["check", "--json"], ["info", "--json"], ["check"], ["check", "--json", "--no-guest"]]
)
def test_the_report_commands_import_only_what_they_run(tmp_path: Path, args: list[str]) -> None:
    data = [(i * layout.MiB, bytes([0x5A]) * 4096) for i in range(4)]
    image = create_image(
        tmp_path / "small.vhdx",
        CreateOptions(virtual_size=64 * layout.MiB, block_size=layout.MiB),
        data=data,
    )
    code = PROBE.format(names=NOT_ON_THE_CHECK_PATH)
    done = subprocess.run(
        [sys.executable, "-c", code, *args, str(image)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("args", [["check", "--json"], ["info"]])
def test_a_disk_that_stores_nothing_is_triaged_without_opening_it(
    tmp_path: Path, args: list[str]
) -> None:
    """A new dynamic image (no payload block present, no pending log): the guest is found blank
    from the report alone (guest.image.stores_nothing), so the virtual disk reader and the log
    overlay are never imported."""
    image = create_image(tmp_path / "new.vhdx", CreateOptions(virtual_size=64 * layout.MiB))
    names = (*NOT_ON_THE_CHECK_PATH, *NOT_FOR_AN_EMPTY_DISK)
    code = PROBE.format(names=names)
    done = subprocess.run(
        [sys.executable, "-c", code, *args, str(image)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


NOT_ON_THE_REPAIR_INTO_A_COPY_PATH = (
    "argparse",
    "secrets",
    "random",
    "hashlib",
    "shutil",
    "threading",
    "typing",
    "json",
    "base64",
    # pathlib and what it brings (fnmatch and re, urllib.parse and ipaddress, enum with re):
    # the write path names files by str (os.path), issue 9.
    "pathlib",
    "fnmatch",
    "re",
    "enum",
    "urllib.parse",
    "ipaddress",
)
ONLY_ONCE_THE_COPY_IS_MADE = ("vhdxray.core.write.backup", "vhdxray.core.write.locking")

REPAIR_PROBE = (
    "import sys, io, contextlib\n"
    "names = {names!r}\n"
    "# site may have imported some (an editable install's finder imports pathlib, re and enum):\n"
    "# forget them, so that an import of one by vhdxray loads it again.\n"
    "for name in names:\n"
    "    sys.modules.pop(name, None)\n"
    "before = set(sys.modules)\n"
    "import vhdxray.core.write.imagecopy as imagecopy\n"
    "real, early = imagecopy.copy_image, []\n"
    "late = {late!r}\n"
    "def spy(*args, **kwargs):\n"
    "    early.extend(m for m in late if m in sys.modules and m not in before)\n"
    "    return real(*args, **kwargs)\n"
    "imagecopy.copy_image = spy\n"
    "from vhdxray.tui.cli import main\n"
    "with contextlib.redirect_stdout(io.StringIO()):\n"
    "    code = main(sys.argv[1:])\n"
    "assert code == 0, code\n"
    "bad = sorted(m for m in names if m in sys.modules and m not in before)\n"
    "assert not bad, bad\n"
    "assert not early, early\n"
)


@pytest.mark.parametrize("json_out", [False, True])
def test_repair_into_a_copy_imports_only_what_it_runs(
    qemu_image: Callable[..., Path], tmp_path: Path, json_out: bool
) -> None:
    """``repair IMAGE --output COPY --yes`` (a log replay, three backups): no parser is built,
    none of these is imported (typing and json neither: the backups are written by
    core.jsontext; pathlib and re neither: paths are str), and the backup writer and the locks
    only once the copy is made."""
    require("qemu-io", "qemu-utils")
    pending = ri.make_pending_image(qemu_image)
    out = tmp_path / "copy.vhdx"
    code = REPAIR_PROBE.format(
        names=NOT_ON_THE_REPAIR_INTO_A_COPY_PATH, late=ONLY_ONCE_THE_COPY_IS_MADE
    )
    argv = ["repair", str(pending.path), "--output", str(out), "--yes"]
    done = subprocess.run(
        [sys.executable, "-c", code, *argv, *(["--json"] if json_out else [])],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.exists()
    assert len(list(tmp_path.glob("copy.vhdx.vhdxray-backup-*.json"))) == 3


def test_import_vhdxray_core_imports_nothing_of_the_app() -> None:
    code = (
        "import sys, vhdxray.core\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

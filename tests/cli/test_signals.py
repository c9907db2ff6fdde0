"""SIGHUP (the SSH session dropped, the terminal closed) and SIGTERM (``kill``, ``timeout``, a
service stopping) during a writing command: the clean-up runs as for ctrl+c.

Before, Python's default action ended the process at once and left the hidden partial file
(``.OUTPUT.vhdxray-partial-*``, as large as what was copied so far) beside the output of an
export or a repair into a copy. Now the partial file is removed and the exit code is 128 + the
signal's number; a signal that was ignored (``nohup``) stays ignored.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import damage
from tests import repairimages as ri
from tests.conftest import require
from tests.imagefiles import qemu_io
from vhdxray.core.progress import Progress
from vhdxray.tui import cli

SIGNALS = [s for s in (getattr(signal, "SIGHUP", None), signal.SIGTERM) if s is not None]


@pytest.fixture
def data_image(qemu_image: Callable[..., Path]) -> Path:
    require("qemu-io", "qemu-utils")
    path = qemu_image("64M", "block_size=1M")
    qemu_io(path, "write -P 0x5a 1M 3M")
    return path


def _signal_while_copying(monkeypatch: pytest.MonkeyPatch, sig: int) -> None:
    """The signal arrives once some bytes are copied: counted by the export's progress, or
    read by the repair's copy (which counts nothing when no one watches)."""
    from vhdxray.core import fileio
    from vhdxray.core.write import imagecopy

    real_advance, real_read = Progress.advance, fileio.pread_exact

    def advance(self: Progress, n: int = 1) -> None:
        real_advance(self, n)
        if self.done and self.total:
            signal.raise_signal(sig)

    def read(fd: int, offset: int, size: int) -> bytes:
        data = real_read(fd, offset, size)
        signal.raise_signal(sig)
        return data

    monkeypatch.setattr(Progress, "advance", advance)
    monkeypatch.setattr(imagecopy, "pread_exact", read)


def _commands(image: Path, out: Path) -> dict[str, list[str]]:
    return {
        "export": ["export", str(image), str(out), "--quiet"],
        "repair": ["repair", str(image), "--output", str(out), "--yes"],
    }


@pytest.mark.parametrize("command", ["export", "repair"])
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_removes_the_partial_output(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_image: Path,
    tmp_path: Path,
    command: str,
    sig: int,
) -> None:
    if signal.getsignal(sig) is not signal.SIG_DFL:
        pytest.skip(f"{signal.Signals(sig).name} is handled by the test runner here")
    damage.break_header_checksum(data_image, 2)  # something for repair to do
    digest = ri.file_sha256(data_image)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "copy.vhdx"
    _signal_while_copying(monkeypatch, sig)
    code = cli.main([*_commands(data_image, out)[command], "--json"])
    captured = capsys.readouterr()
    assert code == 128 + sig, captured.err
    doc = json.loads(captured.out)  # one object, for repair too (its stdout was empty)
    assert (
        doc["exit_code"] == 128 + sig and doc["ok" if command == "repair" else "complete"] is False
    )
    assert list(out_dir.iterdir()) == []  # neither OUTPUT nor its hidden partial file
    assert ri.file_sha256(data_image) == digest
    assert signal.getsignal(sig) is signal.SIG_DFL  # put back for the next command


def test_ctrl_c_during_a_json_write_still_prints_one_object(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_image: Path,
) -> None:
    from vhdxray.core.write import repair

    damage.break_header_checksum(data_image, 2)

    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr(repair, "run_repairs", interrupted)
    for argv in (["update-headers", "--yes", "--json"], ["repair", "--yes", "--json"]):
        code = cli.main([*argv, str(data_image)])
        doc = json.loads(capsys.readouterr().out)
        assert code == 130 and doc == {
            "ok": False,
            "interrupted": True,
            "reason": "interrupted before the command finished: check the image again",
            "exit_code": 130,
        }, argv


def test_an_interrupted_scan_adds_no_line_to_its_json_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_image: Path
) -> None:
    def interrupted(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt

    monkeypatch.setattr("vhdxray.core.analysis.scan.scan_one", interrupted)
    assert cli.main(["scan", "--json", "--jobs", "1", str(data_image)]) == 130
    assert "interrupted" not in capsys.readouterr().out


def test_an_ignored_hangup_stays_ignored(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_image: Path,
    tmp_path: Path,
) -> None:
    """``nohup vhdxray export ...`` keeps running when the terminal closes."""
    if not hasattr(signal, "SIGHUP"):
        pytest.skip("no SIGHUP on this platform")
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        _signal_while_copying(monkeypatch, signal.SIGHUP)
        out = tmp_path / "out.raw"
        code = cli.main(["export", str(data_image), str(out), "--quiet"])
        assert code == 0, capsys.readouterr().err
        assert out.exists()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)

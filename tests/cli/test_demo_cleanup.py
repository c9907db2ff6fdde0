"""``vhdxray --demo`` removes its temporary folder (image and any backups) when the app ends."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from vhdxray.core.analysis.reader import read_report
from vhdxray.tui import app as app_module
from vhdxray.tui import cli
from vhdxray.tui.cli import main


@pytest.fixture(autouse=True)
def on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The app opens only on a terminal; these tests replace it, under pytest's capture."""
    monkeypatch.setattr(cli, "on_a_terminal", lambda: True)


def test_demo_folder_is_removed_when_the_app_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def fake_run_app(
        image: Path,
        read_only: bool = False,
        display_name: str | None = None,
        cleanup: Callable[[], object] | None = None,
    ) -> int:
        assert read_report(image).is_vhdx  # the real demo image, there while the app runs
        assert cleanup is not None  # what a hang-up's hard exit runs before ending the process
        (image.parent / "demo.vhdx.vhdxray-backup-x.json").write_text("{}")  # a write's backup
        seen.append(image)
        return 0

    monkeypatch.setattr(app_module, "run_app", fake_run_app)
    assert main(["--demo"]) == 0
    assert len(seen) == 1
    assert not seen[0].exists() and not seen[0].parent.exists()


def test_demo_folder_is_removed_when_the_app_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []

    def crashing(
        image: Path,
        read_only: bool = False,
        display_name: str | None = None,
        cleanup: Callable[[], object] | None = None,
    ) -> int:
        seen.append(image)
        raise KeyboardInterrupt

    monkeypatch.setattr(app_module, "run_app", crashing)
    assert main(["--demo"]) == 130
    assert seen and not seen[0].parent.exists()


def test_a_hard_exit_after_a_hangup_removes_the_demo_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hang-up may have to end the process without unwinding (Textual stuck on the closed
    terminal): the cleanup the demo hands to the app removes its folder then too."""
    ran: list[bool] = []

    def hard_exit(
        image: Path,
        read_only: bool = False,
        display_name: str | None = None,
        cleanup: Callable[[], object] | None = None,
    ) -> int:
        assert cleanup is not None
        cleanup()  # what the hang-up's watchdog does just before os._exit
        ran.append(image.parent.exists())
        return 129

    monkeypatch.setattr(app_module, "run_app", hard_exit)
    assert main(["--demo"]) == 129
    assert ran == [False]


def test_the_app_is_not_opened_without_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``vhdxray IMAGE > report.txt`` drew the app's escape sequences into the file and waited
    for keys: now a usage error (2) that names the report commands, and no app."""
    from vhdxray.core.write.create import CreateOptions, create_image

    monkeypatch.setattr(cli, "on_a_terminal", lambda: False)
    started: list[Path] = []

    def run_app(image: Path, **kwargs: object) -> int:
        started.append(image)
        return 0

    monkeypatch.setattr(app_module, "run_app", run_app)
    image = create_image(tmp_path / "disk.vhdx", CreateOptions(virtual_size=8 << 20))
    for argv in ([str(image)], ["--demo"], ["--read-only", str(image)]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "needs a terminal" in err and "vhdxray check IMAGE" in err
    assert started == []

"""Project-level promises: the README's commands, CI, the core/UI split, finding codes."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("```")
    install_demo, install_test = lines[1], lines[2]
    assert "pip install" in install_demo and install_demo.endswith("vhdxray --demo")
    assert "pip install" in install_test and "pytest" in install_test
    assert lines[3] == "```"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "sed -n '3p' README.md" in ci and 'eval "$test_command"' in ci
    for package in ("qemu-utils", "libvhdi-utils", "tmux", "librsvg2-bin", "e2fsprogs"):
        assert package in ci
    for gate in ("ruff check .", "ruff format --check .", "scripts/typecheck.py"):
        assert gate in ci


def test_core_never_imports_the_ui() -> None:
    code = (
        "import sys, vhdxray.core.analysis.reader, vhdxray.core.write.update, "
        "vhdxray.core.analysis.jsonout, vhdxray.core.write.create, vhdxray.core.analysis.verdict;"
        "print([m for m in ('textual', 'rich') if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(from|import) (textual|rich)\b", text, re.M), path


def test_scriptable_commands_do_not_import_textual() -> None:
    code = (
        "import sys; from vhdxray.tui import cli; "
        "cli.main(['info', '--json', sys.argv[1]]); "
        "print('textual' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code, __file__], capture_output=True, text=True)
    assert done.stderr.strip().endswith("False")


def test_top_level_layout() -> None:
    names = {p.name for p in ROOT.iterdir() if not p.name.startswith(".")}
    allowed = {
        "core",
        "tui",
        "tests",
        "screenshots",
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "docs",
        "bench",
        "scripts",
    }
    assert names - allowed <= {"build", "dist"} | {n for n in names if n.endswith(".egg-info")}
    assert {"core", "tui", "tests", "screenshots", "pyproject.toml", "README.md"} <= names


FINDING = re.compile(r"\b(?:error|warning|info)\(\s*f?\"([^\"]+)\"", re.S)
CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def test_finding_codes_are_stable_dotted_names() -> None:
    seen = 0
    for path in (ROOT / "core").rglob("*.py"):
        for match in FINDING.finditer(path.read_text()):
            code = re.sub(r"\{[^}]*\}", "x", match.group(1))
            assert CODE.match(code), f"{path.name}: {match.group(1)!r}"
            seen += 1
    assert seen > 50


def test_core_imports_without_posix_only_modules() -> None:
    """Windows has no fcntl, termios, pwd or resource: every core module must still import."""
    modules = sorted(
        ".".join(p.relative_to(ROOT / "core").with_suffix("").parts)
        for p in (ROOT / "core").rglob("*.py")
        if p.stem != "__init__"
    )
    code = (
        "import sys\n"
        "for name in ('fcntl', 'termios', 'pwd', 'grp', 'resource'):\n"
        "    sys.modules[name] = None\n"
        f"for m in {modules!r}:\n"
        "    __import__('vhdxray.core.' + m)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr

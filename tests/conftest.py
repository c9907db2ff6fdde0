"""Shared fixtures: images made by qemu-img in this run and the real images in ../shared."""

from __future__ import annotations

import fnmatch
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import imagefiles


@pytest.fixture(scope="session")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of decompressed real images for the whole run: with pytest-xdist, every
    worker's base temp folder sits in the run's own, where they share it (see unpack_real)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    cache = base / "real-images"
    cache.mkdir(exist_ok=True)
    return cache


@pytest.fixture
def real_image(real_cache: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Factory: ``real_image("qemu-disk2vhd")`` gives a private, writable, sparse copy."""
    if not imagefiles.real_image_available():
        pytest.skip(f"real images not found at {imagefiles.REAL_DIR} (../shared is absent)")

    def make(name: str) -> Path:
        cached = imagefiles.unpack_real(name, real_cache)
        return imagefiles.copy_sparse(cached, tmp_path / cached.name)

    return make


@pytest.fixture
def qemu_image(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``qemu_image("64M", "block_size=1M", name="x.vhdx")`` runs qemu-img create."""
    if not imagefiles.have("qemu-img"):
        pytest.skip("qemu-img is not installed (apt-get install qemu-utils)")

    def make(size: str, *options: str, name: str = "qemu.vhdx") -> Path:
        return imagefiles.qemu_img_create(tmp_path / name, size, *options)

    return make


TMPFS = Path("/dev/shm")
TMPFS_ROOM = 2 << 30  # free bytes wanted there (a test's files take well under 400 MiB)


def _tmpfs_has_room() -> bool:
    try:
        return os.access(TMPFS, os.W_OK) and shutil.disk_usage(TMPFS).free >= TMPFS_ROOM
    except OSError:
        return False


@pytest.fixture
def tmpfs_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh folder on tmpfs (/dev/shm), removed after the test, when there is room there;
    otherwise a fresh folder in pytest's base temp. For tests that fsync after every write or
    let QEMU replay a log (it flushes after each entry): on a disk they wait on it as long as
    they compute. What they check does not depend on where the files are: fsync is called
    either way, and tmpfs keeps holes as a disk does. tests/core, tests/cli and tests/crash
    use it for all their files: their conftest.py overrides ``tmp_path`` with it."""
    if not _tmpfs_has_room():
        yield tmp_path_factory.mktemp("tmp")
        return
    folder = Path(tempfile.mkdtemp(prefix="pytest-tmpfs-", dir=TMPFS))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Parallel runs (pytest-xdist, ``-n auto``) -------------------------------------------------

IDLE_SHARE_WORKERS = 2
"""Workers per core for ``-n auto``. An app test spends about a third of its time asleep
(Textual's Pilot waits in 20 ms slices until the app is idle) and the tmux, qemu and real-image
tests wait on other processes and the disk: with one worker per core, a core idles as long.
Two per core fill those waits with another test's work."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per usable core (``PYTEST_XDIST_AUTO_NUM_WORKERS`` wins)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) * IDLE_SHARE_WORKERS)


RUN_FIRST = (
    # The longest tests (seconds of CPU each, measured with --durations): started first, a
    # parallel run does not end with one worker still busy on one of them while the others idle.
    "tests/crash/test_replay_crash.py",
    "tests/core/test_bat.py::test_bulk_analysis_matches_the_reference",
    "tests/core/test_update.py::test_update_on_real_images",
    "tests/cli/test_scan_cli.py::test_one_line_per_file_agreeing_with_check",
    "tests/core/test_virtual_biglog.py",
    "tests/core/test_bat.py::test_real_images_read_like_qemu",
    "tests/core/test_log.py::test_garbage_logs_are_analysed",
    "tests/core/test_replay.py::test_real_dirty_logs_replay_like_qemu",
    "tests/core/test_log.py::test_replay_matches_qemu",
    "tests/core/test_log.py::test_mutated_logs_never_raise",
    "tests/fuzz/test_mutations.py",
)


def _run_order(item: pytest.Item) -> int:
    for rank, prefix in enumerate(RUN_FIRST):
        if item.nodeid.startswith(prefix):
            return rank
    return len(RUN_FIRST) + (0 if item.get_closest_marker("slow") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first, then the other ``slow`` ones, then the rest, each group in
    collection order (a stable sort: every worker gets the same order, as xdist requires).
    With ``--dist load --maxschedchunk=1`` (pyproject.toml) the workers take the tests one at a
    time in this order, so the long tests are spread over them from the start."""
    items.sort(key=_run_order)


# Assertion rewriting once per run, not once per worker ---------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    """Before pytest-xdist starts its workers (its own hook runs last), the controller rewrites
    the asserts of every test module, conftest and plugin the workers will import and writes
    them to pytest's cache (``__pycache__/*-pytest-*.pyc``), where each worker finds them.

    pytest rewrites a module's asserts on import and caches the result only where Python may
    write bytecode: with PYTHONDONTWRITEBYTECODE set (as on these machines and in CI), each of
    the four workers rewrote all of them on every run, 6 to 9 s of CPU each (about 190
    modules, Hypothesis's among them). The workers read the cache whatever that setting; a
    module changed since is rewritten again (pytest checks its size and mtime). Nothing is done
    without workers, or where Python writes bytecode anyway (the first worker's cache then
    serves the next run)."""
    config = session.config
    if not sys.dont_write_bytecode or not config.pluginmanager.has_plugin("dsession"):
        return
    try:
        from _pytest.assertion.rewrite import (
            PYC_TAIL,
            _read_pyc,
            _rewrite_test,
            _write_pyc,
            assertstate_key,
            get_cache_dir,
            try_makedirs,
        )
    except ImportError:  # another pytest: the workers rewrite as before
        return
    state = config.stash.get(assertstate_key, None)
    if state is None or state.hook is None:  # --assert=plain
        return
    sys.dont_write_bytecode = False  # for the import below: pytest caches what it rewrites
    try:
        # The test modules import Hypothesis, a plugin's package: pytest rewrites its modules
        # too (about 70). The controller imports it at the end of the run anyway (the plugin's
        # terminal summary does).
        import hypothesis.strategies  # noqa: F401
    except ImportError:
        pass
    finally:
        sys.dont_write_bytecode = True
    try:
        paths = set(state.hook._rewritten_names.values())  # the plugins and conftests loaded
        paths.update(_test_modules(config))
        for path in sorted(paths):
            pyc = get_cache_dir(path) / (path.name[:-3] + PYC_TAIL)
            if _read_pyc(path, pyc) is not None or not try_makedirs(pyc.parent):
                continue
            try:
                source_stat, code = _rewrite_test(path, config)
            except (OSError, SyntaxError, ValueError):
                continue  # the worker that imports it reports the error
            _write_pyc(state, code, source_stat, pyc)
    except (AttributeError, TypeError):  # pytest's private functions changed shape: the
        return  # workers rewrite as before (slower, never wrong)


def _test_modules(config: pytest.Config) -> Iterator[Path]:
    """The test modules and conftests under the run's arguments (testpaths by default), less
    the folders and files given to ``--ignore``."""
    patterns = [*config.getini("python_files"), "conftest.py"]
    here = config.invocation_params.dir
    ignored = [(here / p).absolute() for p in config.getoption("ignore") or ()]
    for arg in config.args:
        path = here / arg.split("::")[0]
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            if (
                file.suffix == ".py"
                and file.is_file()
                and any(fnmatch.fnmatch(file.name, p) for p in patterns)
                and not any(file.absolute().is_relative_to(i) for i in ignored)
            ):
                yield file


def require(tool: str, package: str) -> None:
    """Skip the calling test when an independent reader is missing."""
    if not imagefiles.have(tool):
        pytest.skip(f"{tool} is not installed (apt-get install {package})")

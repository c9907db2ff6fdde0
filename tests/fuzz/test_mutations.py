"""Property test: mutated images never raise and never hang (reader, verdict, JSON, text).

Hypothesis flips bytes and writes random runs into the structures of real images (header
slots, region tables, metadata, log, BAT), and cuts files short. Every layer from bytes to
the printed report must cope: damage is data, never an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import imagefiles
from vhdxray.core.analysis.jsonout import report_json
from vhdxray.core.analysis.reader import read_report
from vhdxray.core.analysis.verdict import verdict
from vhdxray.core.format import layout
from vhdxray.core.write.update import plan_header_update
from vhdxray.tui.textreport import render

# Offsets where the structures live in qemu-img and Windows images.
HOT_SPOTS = [
    0,
    layout.HEADER_SLOT_OFFSETS[0],
    layout.HEADER_SLOT_OFFSETS[1],
    layout.REGION_TABLE_OFFSETS[0],
    layout.REGION_TABLE_OFFSETS[1],
    1 * layout.MiB,  # log
    2 * layout.MiB,  # metadata (Windows) / BAT (qemu)
    2 * layout.MiB + 64 * layout.KiB,  # metadata items (Windows)
    3 * layout.MiB,  # BAT (Windows) / metadata (qemu)
    3 * layout.MiB + 64 * layout.KiB,  # metadata items (qemu)
]

Mutation = tuple[int, int, bytes]
"""Where (a hot spot and an offset from it) and the bytes written there."""

mutation = st.tuples(
    st.sampled_from(HOT_SPOTS),
    st.integers(min_value=0, max_value=4095),
    st.binary(min_size=1, max_size=64),
)


def exercise(path: Path) -> None:
    report = read_report(path)
    json.dumps(report_json(report))
    verdict(report)
    render(report)
    plan_header_update(report)
    plan_header_update(report, from_slot=1)


@pytest.fixture(scope="module")
def seeds(
    tmp_path_factory: pytest.TempPathFactory, real_cache: Path
) -> Iterator[dict[str, tuple[Path, Path]]]:
    """Each seed image and a working copy of it, which the examples mutate and :func:`mutated`
    puts back, so that no example pays for a full copy of the image."""
    out: dict[str, Path] = {}
    folder = tmp_path_factory.mktemp("seeds")
    if imagefiles.have("qemu-img"):
        out["qemu"] = imagefiles.qemu_img_create(folder / "q.vhdx", "64M", "block_size=1M")
    if imagefiles.real_image_available():
        for name in ("discutils-log-replay", "dissect-differencing"):
            out[name] = imagefiles.unpack_real(name, real_cache)
    if not out:
        pytest.skip("neither qemu-img nor ../shared images are available")
    pairs = {n: (s, imagefiles.copy_sparse(s, folder / f"work-{n}.vhdx")) for n, s in out.items()}
    yield pairs
    for seed, work in pairs.values():  # every example put its working copy back
        assert imagefiles.sparse_digest(work) == imagefiles.sparse_digest(seed)


def _mutated_copy(seed: Path, target: Path, mutations: list[Mutation], cut: int | None) -> Path:
    shutil.copyfile(seed, target)
    with open(target, "r+b") as f:
        for base, delta, data in mutations:
            f.seek(base + delta)
            f.write(data)
        if cut is not None:
            f.truncate(cut)
    return target


@contextlib.contextmanager
def mutated(seed: Path, work: Path, mutations: list[Mutation], cut: int | None) -> Iterator[Path]:
    """``work`` (an exact copy of ``seed``) with the mutations written and cut at ``cut``
    (extended with zeros when ``cut`` is past its end), as :func:`_mutated_copy` makes it; put
    back to the seed's bytes on leaving, from the saved bytes and the seed's tail."""
    size = seed.stat().st_size
    saved: list[tuple[int, bytes]] = []
    with open(work, "r+b") as f:
        for base, delta, data in mutations:
            f.seek(base + delta)
            saved.append((base + delta, f.read(len(data))))
            f.seek(base + delta)
            f.write(data)
        if cut is not None:
            f.truncate(cut)
    try:
        yield work
    finally:
        with open(work, "r+b") as f, open(seed, "rb") as original:
            if cut is not None:
                f.truncate(min(cut, size))
                for start, end in imagefiles.data_segments(original.fileno(), size):
                    if end > cut:
                        at = max(start, cut)
                        f.seek(at)
                        f.write(os.pread(original.fileno(), end - at, at))
                f.truncate(size)
            for at, old in reversed(saved):
                f.seek(at)
                f.write(old)


@pytest.mark.slow
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    which=st.integers(min_value=0, max_value=10),
    mutations=st.lists(mutation, min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=8 * layout.MiB)),
)
def test_mutated_images_never_raise(
    seeds: dict[str, tuple[Path, Path]],
    which: int,
    mutations: list[Mutation],
    cut: int | None,
) -> None:
    names = sorted(seeds)
    seed, work = seeds[names[which % len(names)]]
    with mutated(seed, work, mutations, cut) as path:
        exercise(path)


def test_mutated_is_what_a_mutated_copy_is(
    seeds: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """The in-place mutation gives the same bytes as a fresh mutated copy, for a cut inside,
    at and past the end of the seed, and puts the seed's bytes back (on the smallest seed;
    the fixture checks every seed once all examples ran)."""
    seed, work = min(seeds.values(), key=lambda pair: pair[0].stat().st_size)
    size = seed.stat().st_size
    changes = [(HOT_SPOTS[1], 7, b"\xff" * 40), (HOT_SPOTS[-1], 4095, b"ab"), (0, 0, b"z")]
    for cut in (None, 5 * layout.MiB + 17, size, size + 4096):
        fresh = _mutated_copy(seed, tmp_path / "fresh.vhdx", changes, cut)
        with mutated(seed, work, changes, cut) as path:
            assert path.read_bytes() == fresh.read_bytes(), cut
        assert work.read_bytes() == seed.read_bytes(), cut


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=400 * 1024))
def test_arbitrary_small_files_never_raise(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"vhdxfile" + data if data[:1] == b"\0" else data)
    exercise(path)


@pytest.mark.slow
def test_sparse_damage_points(real_image: Callable[[str], Path]) -> None:
    """Every header/region field region zeroed or filled with 0xFF, one at a time."""
    seed = real_image("qemu-dynamic-1g")
    work = imagefiles.copy_sparse(seed, seed.with_name("d.vhdx"))
    for base in HOT_SPOTS:
        for fill in (b"\0", b"\xff"):
            with mutated(seed, work, [(base, 0, fill * 4096)], None) as path:
                exercise(path)

"""Property test: mutated images never raise and never hang (reader, verdict, JSON, text).

Hypothesis flips bytes and writes random runs into the structures of real images (header
slots, region tables, metadata, log, BAT), and cuts files short. Every layer from bytes to
the printed report must cope: damage is data, never an exception.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests import imagefiles

    out: dict[str, Path] = {}
    folder = tmp_path_factory.mktemp("seeds")
    if imagefiles.have("qemu-img"):
        out["qemu"] = imagefiles.qemu_img_create(folder / "q.vhdx", "64M", "block_size=1M")
    if imagefiles.real_image_available():
        for name in ("discutils-log-replay", "dissect-differencing"):
            out[name] = imagefiles.unpack_real(name, folder)
    if not out:
        pytest.skip("neither qemu-img nor ../shared images are available")
    return out


def _mutated_copy(seed: Path, target: Path, mutations: list[Mutation], cut: int | None) -> Path:
    shutil.copyfile(seed, target)
    with open(target, "r+b") as f:
        for base, delta, data in mutations:
            f.seek(base + delta)
            f.write(data)
        if cut is not None:
            f.truncate(cut)
    return target


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
    seeds: dict[str, Path],
    tmp_path: Path,
    which: int,
    mutations: list[Mutation],
    cut: int | None,
) -> None:
    names = sorted(seeds)
    seed = seeds[names[which % len(names)]]
    exercise(_mutated_copy(seed, tmp_path / "m.vhdx", mutations, cut))


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
    for base in HOT_SPOTS:
        for fill in (b"\0", b"\xff"):
            copy = seed.with_name("d.vhdx")
            _mutated_copy(seed, copy, [(base, 0, fill * 4096)], None)
            exercise(copy)

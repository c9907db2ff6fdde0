"""tui/sizes.py prints what humanize prints (it replaced humanize on the check path)."""

from __future__ import annotations

import humanize
from hypothesis import given
from hypothesis import strategies as st

from vhdxray.tui.sizes import grouped, natural_size

EDGES = [0, 1, -1, 2, 1023, 1024, -4096, 1025, 1048575, 1048576, 1024**2 * 1023.96, 64 << 40]
EDGES += [1024**k - 1 for k in range(1, 12)] + [1024**k for k in range(1, 12)]
EDGES += [int(1024**k * 1023.95) for k in range(1, 11)] + [10**34 * 3]


def test_natural_size_at_the_unit_edges() -> None:
    for value in EDGES:
        assert natural_size(value) == humanize.naturalsize(value, binary=True), value


@given(st.integers(min_value=-(1 << 70), max_value=1 << 90))
def test_natural_size_equals_humanize(value: int) -> None:
    assert natural_size(value) == humanize.naturalsize(value, binary=True)


@given(st.integers(min_value=0, max_value=1 << 70))
def test_grouped_equals_intcomma(value: int) -> None:
    assert grouped(value) == humanize.intcomma(value)

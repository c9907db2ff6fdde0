"""The shared progress/cancel object: counts, rate and time left, cancellation between steps."""

from __future__ import annotations

import threading

import pytest

from vhdxray.core.progress import Cancelled, Progress, advance, check


def test_rate_and_eta_follow_the_clock() -> None:
    now = [100.0]
    seen: list[int] = []
    p = Progress(1000, clock=lambda: now[0], on_update=lambda q: seen.append(q.done))
    assert p.eta is None and p.rate == 0.0
    now[0] = 102.0
    p.advance(250)
    assert p.rate == 125.0
    assert p.eta == pytest.approx(6.0)
    assert p.fraction == 0.25
    assert seen == [250]


def test_cancel_from_another_thread_is_seen_at_the_next_check() -> None:
    p = Progress(10)
    check(p)
    t = threading.Thread(target=p.cancel)
    t.start()
    t.join()
    assert p.cancelled
    with pytest.raises(Cancelled):
        check(p)


def test_helpers_accept_none() -> None:
    check(None)
    advance(None, 5)
    p = Progress()
    p.start(4, "copy")
    advance(p, 4)
    assert (p.done, p.total, p.label, p.fraction) == (4, 4, "copy", 1.0)

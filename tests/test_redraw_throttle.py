"""The app's one pacing object: a burst of requests is one call now and one deferred call."""
from __future__ import annotations

from tui.app.redraw_throttle import Throttle


def test_a_burst_costs_one_call_now_and_one_when_the_interval_has_passed():
    now, calls, scheduled = [100.0], [], []
    throttle = Throttle(0.5, lambda: calls.append(now[0]), lambda delay, callback: scheduled.append((delay, callback)),
                        clock=lambda: now[0])
    throttle.request()
    assert calls == [100.0] and not throttle.pending
    now[0] = 100.1
    for _ in range(50):
        throttle.request()
    assert calls == [100.0] and throttle.pending and len(scheduled) == 1
    assert abs(scheduled[0][0] - 0.4) < 1e-9
    now[0] = 100.5
    scheduled[0][1]()
    assert calls == [100.0, 100.5] and not throttle.pending and not throttle.due()
    throttle.request(now=True)  # a whole history handed over: drawn at once whatever the pace
    assert calls == [100.0, 100.5, 100.5]

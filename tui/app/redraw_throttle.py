"""At most one call per interval, however often it is asked for: the app's redraw, chart and
diagnosis pacing, one object each instead of hand-kept "last time" and "pending" fields."""
from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """``request()`` runs ``action`` now when ``min_seconds`` have passed since its last run, else
    once, when they have (through ``schedule(delay, callback)``, the app's timer); requests in
    between are folded into that one call."""

    def __init__(self, min_seconds: float, action: Callable[[], None],
                 schedule: Callable[[float, Callable[[], None]], object],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.min_seconds = min_seconds
        self.action = action
        self.schedule = schedule
        self.clock = clock
        self.pending = False  # a deferred run is scheduled
        self.last_run = -float("inf")

    def request(self, now: bool = False) -> None:
        """Run soon; ``now``: at once, whatever the pace (a deferred run, if any, still comes)."""
        if now:
            self.run()
            return
        if self.pending:
            return
        wait = self.min_seconds - (self.clock() - self.last_run)
        if wait <= 0:
            self.run()
        else:
            self.pending = True
            self.schedule(wait, self._deferred)

    def due(self) -> bool:
        """Has the interval passed since the last run?"""
        return self.clock() - self.last_run >= self.min_seconds

    def run(self) -> None:
        self.last_run = self.clock()
        self.action()

    def _deferred(self) -> None:
        self.pending = False
        self.run()

"""Helpers for driving the app in tests: a deterministic app and a wait until it has settled."""
from __future__ import annotations

import asyncio
import os

from tui.app.app import TrainWatch

# A fixed "now", so the header's elapsed and "last write" texts never depend on the wall clock.
FIXED_NOW = 1_800_000_000.0


def frozen_copy(source: str, directory) -> str:
    """A copy of a log whose mtime is fixed relative to FIXED_NOW (a clone's mtimes differ)."""
    target = os.path.join(str(directory), os.path.basename(source))
    with open(source, "rb") as reader, open(target, "wb") as writer:
        writer.write(reader.read())
    os.utime(target, (FIXED_NOW - 300, FIXED_NOW - 300))
    return target


def make_app(target: str | None, **options) -> TrainWatch:
    options.setdefault("remember", False)
    options.setdefault("hostname", "gpu-box")
    options.setdefault("clock", lambda: FIXED_NOW)
    return TrainWatch(target, **options)


async def settle(pilot, app: TrainWatch, timeout: float = 20.0) -> None:
    """Wait until everything read is drawn and diagnosed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not app.settled:
        if loop.time() > deadline:
            raise AssertionError("the app did not settle: nothing was read or drawn")
        await pilot.pause(0.05)
    await pilot.pause()


def plain(widget) -> str:
    """The text a Static-based panel currently shows."""
    content = widget.content
    return content.plain if hasattr(content, "plain") else str(content)


async def wait_for(pilot, condition, timeout: float = 5.0) -> None:
    """Pause until ``condition()`` holds (a change made on disk reaches the screen asynchronously);
    fail the test if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"still not true after {timeout:g} s")
        await pilot.pause(0.05)

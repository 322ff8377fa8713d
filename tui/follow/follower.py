"""What the app and the CLI ask of a followed target, here or over ssh: one protocol, two followers
(tui/follow/target_follower.TargetFollower, tui/follow/remote_follower.RemoteFollower)."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from tui.follow.stream_decoder import FollowBatch
from tui.runs.run_control import RunHandle


class Follower(Protocol):
    """A target (a log, a run directory) as it grows. ``batches`` runs in a worker thread until
    ``stop``; everything else is cheap and may be called from the UI thread."""

    target: object  # the path, or the parsed host:PATH
    synced_once: bool  # the history has been read through at least once

    @property
    def host(self) -> str | None: ...  # None: this machine

    @property
    def source(self) -> str: ...  # what the header names: the log, or the target

    @property
    def format_name(self) -> str: ...

    def preview(self) -> FollowBatch | None: ...
    def read_ahead(self) -> None: ...  # begin the first look in a thread (before the screen loads)
    def batches(self) -> Iterator[FollowBatch]: ...
    def stop(self) -> None: ...
    def wait_stopped(self, seconds: float) -> bool: ...
    def run_on_host(self, script: str) -> str: ...  # a query script (the GPU query) on the run's machine

    def run_handle(self) -> RunHandle | None:
        """The launched run being followed, to act on; None for a plain log (or a remote run
        directory whose record has not arrived yet). Raises NotOurRun once for a run directory whose
        record may not be trusted."""

"""What the app's workers tell the UI thread, as Textual messages named for what happened.

Each carries the follower it came from: a message from a follower since replaced (a restart moved
on to the child run) is dropped by the app. Dataclasses compared by identity (eq=False), as any
message: two equal readings are still two messages."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from tui.follow.follower import Follower
from tui.follow.stream_decoder import FollowBatch
from tui.model.run_model import RunModel
from tui.view.live_run import LiveRun


@dataclass(eq=False)
class RecordsRead(Message):
    """A batch of records, text lines and notices was read from the followed files (every batch
    counts: none replaces another)."""

    batch: FollowBatch
    follower: Follower


@dataclass(eq=False)
class GpusRead(Message):
    """The header's GPU text for the followed run's machine ("" for nothing to show)."""

    text: str
    follower: Follower

    def can_replace(self, message: Message) -> bool:
        # Only the latest reading matters: one still queued from the same follower is dropped.
        return isinstance(message, GpusRead) and message.follower is self.follower


@dataclass(eq=False)
class RunLoaded(Message):
    """The worker folded a log's history into a LiveRun (diagnosed too): the UI takes it whole.
    ``complete`` is False for the quick preview of a big file's end shown while the rest loads."""

    live: LiveRun
    follower: Follower
    complete: bool


@dataclass(eq=False)
class ParentLoaded(Message):
    """A restarted run's parent, read whole from its run directory: the charts draw it faint,
    the same whether the UI followed the restart or was started on the child later."""

    model: RunModel
    follower: Follower

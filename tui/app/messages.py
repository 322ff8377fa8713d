"""What the app's workers tell the UI thread, as Textual messages named for what happened."""
from __future__ import annotations

from textual.message import Message

from tui.follow.stream_decoder import FollowBatch
from tui.view.live_run import LiveRun


class RecordsRead(Message):
    """A batch of records, text lines and notices was read from the followed files."""

    def __init__(self, batch: FollowBatch, follower) -> None:
        super().__init__()
        self.batch = batch
        self.follower = follower  # a batch from a follower since replaced (a restart) is dropped


class GpusRead(Message):
    """The header's GPU text for the followed run's machine ("" for nothing to show)."""

    def __init__(self, text: str, follower) -> None:
        super().__init__()
        self.text = text
        self.follower = follower

    def can_replace(self, message: Message) -> bool:
        # Only the latest reading matters: one still queued from the same follower is dropped.
        return isinstance(message, GpusRead) and message.follower is self.follower


class RunLoaded(Message):
    """The worker folded a log's history into a LiveRun (diagnosed too): the UI takes it whole.
    ``complete`` is False for the quick preview of a big file's end shown while the rest loads."""

    def __init__(self, live: LiveRun, follower, complete: bool) -> None:
        super().__init__()
        self.live = live
        self.follower = follower
        self.complete = complete

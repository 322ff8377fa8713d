"""Following the target: open it, read its history and then its growth in a worker, watch the
run's GPUs in another, and take what they post (RunLoaded, ParentLoaded, RecordsRead, GpusRead) on
the UI thread.

A mixin of the App (TrainWatch), like RunControlFlow: it sets ``follower``, ``live`` and
``run_handle`` and asks the app to redraw."""
from __future__ import annotations

import subprocess
import time

from textual import work
from textual.widgets import Log

from tui.app.messages import GpusRead, ParentLoaded, RecordsRead, RunLoaded
from tui.app.widgets.findings_panel import FindingsPanel
from tui.follow.follower import Follower
from tui.follow.open_target import open_target
from tui.follow.stream_decoder import FollowBatch
from tui.follow.whole_run import read_whole_run
from tui.model.run_model import RunModel
from tui.readers import UnreadableLog
from tui.runs.gpu_usage import GPU_POLL_SECONDS, NoGpu, read_gpus
from tui.runs.run_record import NotOurRun
from tui.ssh.ssh_connection import SshError
from tui.view.chart_data import key_charts
from tui.view.live_run import LiveRun


class RunFollowing:
    """The followed target's workers and their messages, mixed into the App."""

    def start_following(self, target: str) -> None:
        if self.follower is not None:
            self.follower.stop()
        self.parent_model = None  # the new target's own parent, if it has one, is read with its history
        self.target = target
        self.pending = {}
        self.run_handle = None
        prepared, self._prepared_follower = self._prepared_follower, None
        # The CLI opened its target already (and may have connected over ssh); one the user picks here
        # is opened the same way, its remote connection made by the worker.
        self.follower = prepared if prepared is not None else open_target(target, poll_seconds=self.poll_seconds)
        self._adopt_run_handle()
        self.live = LiveRun(self.follower.source, "", self.thresholds)  # empty until the worker hands one over
        self.gpu_text = ""
        self.tail_run(self.follower)
        self.watch_gpus(self.follower)

    @work(thread=True, exclusive=True, group="tail", exit_on_error=False)
    def tail_run(self, follower: Follower) -> None:
        """Follow the target. The history already in the log (maybe millions of lines) is read and
        diagnosed here, off the UI thread, and handed over whole; a big file's end is shown first.
        After that, each new batch goes to the UI as it is read."""
        preview = follower.preview()
        if preview is not None:
            shown = self._new_live(follower)
            shown.apply(preview, self.clock())
            shown.initial_read_done = shown.partial = True
            self.post_message(RunLoaded(shown, follower, complete=False))
        live = self._new_live(follower)
        loading = True
        for batch in follower.batches():
            if not loading:
                self.post_message(RecordsRead(batch, follower))
                continue
            live.apply(batch, self.clock())
            if batch.notices or batch.connection is not None:  # news and the link's state: shown at once
                self.post_message(RecordsRead(FollowBatch(notices=batch.notices, connection=batch.connection),
                                              follower))
            if batch.more:
                continue
            loading = False
            live.model.format_name = live.model.format_name or follower.format_name
            live.initial_read_done = True
            live.diagnose()
            key_charts(live.model, self.smoothing)  # folds long curves into their display buckets here
            self.post_message(RunLoaded(live, follower, complete=True))
            parent = _parent_model(follower)
            if parent is not None:
                self.post_message(ParentLoaded(parent, follower))

    @work(thread=True, exclusive=True, group="gpus", exit_on_error=False)
    def watch_gpus(self, follower: Follower) -> None:
        """While the run is live, read its machine's GPU use every GPU_POLL_SECONDS (over ssh for a
        remote run). A machine without nvidia-smi is asked once; a failed read is tried again later."""
        wait = 1.0  # soon after the run shows as live, then every GPU_POLL_SECONDS
        while not follower.wait_stopped(wait):
            text = ""
            if self.run_active and follower.synced_once:
                handle = self.run_handle
                try:
                    text = read_gpus(follower.run_on_host, run_group=handle.record.pid if handle is not None else None)
                except NoGpu:
                    return
                except (OSError, subprocess.SubprocessError, SshError):
                    pass  # asked again next time; the header just shows no GPU meanwhile
            self.post_message(GpusRead(text, follower))
            wait = GPU_POLL_SECONDS

    def on_gpus_read(self, message: GpusRead) -> None:
        if self._taken_down_or_stale(message) or message.text == self.gpu_text:
            return
        self.gpu_text = message.text
        self._refresh_header()

    def _taken_down_or_stale(self, message: GpusRead | RunLoaded | RecordsRead) -> bool:
        """A worker's message that must not be drawn: quitting began (the widgets are being taken
        down), or it is about a target no longer followed (a restart moved on to the child run)."""
        return not self.is_running or message.follower is not self.follower

    def _new_live(self, follower: Follower) -> LiveRun:
        return LiveRun(follower.source, follower.format_name, self.thresholds)

    def on_run_loaded(self, message: RunLoaded) -> None:
        if self._taken_down_or_stale(message):
            return
        live = message.live
        live.connection = live.connection or (self.live.connection if self.live is not None else "")
        self.live = live
        self._adopt_run_handle()
        if self.pending:
            self._settle_pending(live)
        output = self.query_one("#output", Log)
        output.clear()
        output.write_lines(list(live.output))
        if message.complete:
            self.history_loaded_at = time.monotonic()
        elif live.model.record_count:
            self.notify("showing the end of a big log while its full history loads", timeout=4)
        self.query_one(FindingsPanel).show_findings(live.findings, diagnosed=bool(live.model.record_count),
                                                    partial=live.partial, presets=self.applicable_presets())
        self._request_redraw(immediate=True)

    def on_parent_loaded(self, message: ParentLoaded) -> None:
        if not self._taken_down_or_stale(message):
            self.parent_model = message.model
            self._chart_draws.request(now=True)

    def on_records_read(self, message: RecordsRead) -> None:
        live = self.live
        if live is None or self._taken_down_or_stale(message):
            return
        batch = message.batch
        live.apply(batch, self.clock())
        self._adopt_run_handle()
        if self.pending:
            self._settle_pending(live)
        if not live.model.format_name and self.follower is not None:
            live.model.format_name = self.follower.format_name
        if batch.output_lines:
            self.query_one("#output", Log).write_lines(batch.output_lines)
        for notice in batch.notices[-3:]:
            self.notify(notice, severity="warning", timeout=6)
        self._request_redraw()

    def _adopt_run_handle(self) -> None:
        """A remote target names its log only once connected, and a remote run directory becomes
        controllable once its run record has arrived: asked again at each batch."""
        follower = self.follower
        if follower is None:
            return
        if self.live is not None and follower.source:
            self.live.model.source = follower.source
        try:
            self.run_handle = follower.run_handle()
        except NotOurRun as error:
            self.notify(str(error), severity="warning")

    @property
    def settled(self) -> bool:
        """Everything read so far is on screen and diagnosed (tests and benchmarks wait for this)."""
        live = self.live
        return (live is not None and live.initial_read_done and not self._redraws.pending
                and not self._chart_draws.pending and not self._diagnoses.pending and not live.diagnosis_stale)

    def on_unmount(self) -> None:
        if self.follower is not None:
            self.follower.stop()


def _parent_model(follower: Follower) -> RunModel | None:
    """The parent of a restarted local run, read whole; None for any other target, or a parent
    that is gone or unreadable (the child's own charts need nothing of it)."""
    record = getattr(follower, "record", None)
    parent = getattr(record, "parent", None)
    if not parent or follower.host is not None:
        return None  # over ssh the parent would cost a second remote read; not drawn there yet
    try:
        return read_whole_run(parent)
    except (OSError, UnreadableLog):
        return None

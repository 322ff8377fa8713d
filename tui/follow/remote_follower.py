"""Follow a log or run directory on another machine, as TargetFollower does here.

One long-running sh script (remote_scripts.stream_script) sends what was appended to each file,
whole files when they change, and what happened to them (rotated, truncated, deleted). Offsets move
only past bytes that arrived whole, so after a dropped connection the stream restarts exactly where
it stopped: no record lost, none read twice. Reconnection backs off from 0.5 s to 15 s.
"""
from __future__ import annotations

import os
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from tui.follow.stream_decoder import FollowBatch, StreamDecoder, file_notice
from tui.follow.target_follower import (has_trainer_events, order_merged_records,
                                        PRINTED_METRICS_NOTICE, printed_metrics_due)
from tui.runs.run_control import RunHandle
from tui.runs.run_record import OUTPUT_FILE_NAMES, RUN_RECORD_NAME, NotOurRun, RunRecord, parse_run_record
from tui.readers.log_reader import DETECT_BYTES, LISTING_DEPTH, UnreadableLog, merged_format, pick_logs
from tui.runs.sh_scripts import MARK
from tui.readers.file_state import NO_IDENTITY, FileState
from tui.ssh.remote_scripts import StreamedFile, probe_script, stream_script
from tui.ssh.remote_target import RemoteTarget
from tui.ssh.ssh_run_host import SshRunHost
from tui.ssh.ssh_connection import SshConnection, SshError, describe_ssh_failure, end_process
from tui.ssh.stream_protocol import ProtocolError, StreamEvent, StreamProtocolParser

from trainers.runlog import EVENT_LOG_NAME

# How often the remote script looks at the files: the remote share of write-to-screen latency.
REMOTE_POLL_SECONDS = 0.25
CHUNK_BYTES = 1 << 20
# The script says something at least every 8 rounds; this much silence means the link is dead
# even if TCP has not noticed yet.
SILENT_AFTER_SECONDS = 20.0
BACKOFF_SECONDS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# Formats rewritten whole, known by name before any byte is read.
_WHOLE_FILE_NAMES = ("trainer_state.json",)


@dataclass
class RemoteFile:
    """One followed remote file: where the stream stands in it, and its decoder."""

    path: str
    role: str  # "log" (parsed), "output" (shown as text), "record" (run.json)
    decoder: StreamDecoder
    whole: bool = False
    at: FileState = field(default_factory=FileState)  # the inode, offset and first bytes across reconnects
    replaced_once: bool = False  # a whole file: its first content is taken even if it reads as nothing
    show_output: bool = True
    undetected: bytearray = field(default_factory=bytearray)  # held until the format can be told

    def streamed(self) -> StreamedFile:
        return StreamedFile(self.path, self.whole, self.at)


def _remote_file(path: str, role: str) -> RemoteFile:
    name = os.path.basename(path)
    return RemoteFile(path, role, StreamDecoder(path, parse=role == "log"),
                      whole=role == "record" or name in _WHOLE_FILE_NAMES)


class RemoteFollower:
    """Yields batches as the remote target's files change; ``stop`` ends the loop from any thread.
    The connection's state goes out in ``FollowBatch.connection`` for the header."""

    def __init__(self, target: RemoteTarget, connection: SshConnection | None = None,
                 poll_seconds: float = REMOTE_POLL_SECONDS) -> None:
        self.target = target
        self.connection = connection or SshConnection(target.destination)
        self.poll_seconds = poll_seconds
        self.files: list[RemoteFile] | None = None
        self.run_dir: str | None = None  # the remote run directory, when the target is one
        self.record: RunRecord | None = None
        self.stream_process: subprocess.Popen | None = None
        self.reconnects = 0  # how many times the stream was started again after a failure
        self.synced_once = False  # the stream has caught up with the files at least once
        self._stopped = threading.Event()
        self._restart_wanted = False
        self._printed_metrics: RemoteFile | None = None
        self.trainer_logged = False  # the event log holds something the trainer wrote
        self._handle: RunHandle | None = None

    # What the app asks of every follower ---------------------------------------------------------

    @property
    def host(self) -> str:
        return self.target.destination

    @property
    def log_files(self) -> list[RemoteFile]:
        return [file for file in self.files or [] if file.role == "log"]

    @property
    def source(self) -> str:
        logs = [file for file in self.log_files if file is not self._printed_metrics]
        return self.target.at(logs[0].path) if len(logs) == 1 else str(self.target)

    @property
    def format_name(self) -> str:
        logs = self.log_files
        if self._printed_metrics is not None:
            return self._printed_metrics.decoder.format_name
        if len(logs) > 1:
            return merged_format([file.decoder.format_name for file in logs])
        return logs[0].decoder.format_name if logs else ""

    def stop(self) -> None:
        self._stopped.set()

    def wait_stopped(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True once the follower is stopped (for helper threads)."""
        return self._stopped.wait(seconds)

    def run_on_host(self, script: str) -> str:
        """Run a query script on the run's machine, over the same connection."""
        return self.connection.run(script).stdout.decode("utf-8", "replace")

    def run_handle(self) -> RunHandle | None:
        """A remote run directory becomes controllable once its run record has arrived (on the first
        stream round); the stream keeps that record current, so an action costs no extra round trip."""
        if self.record is None or self.run_dir is None:
            return None
        if self._handle is None:
            self._handle = RunHandle(self.run_dir, SshRunHost(self.connection), record=self.record)
        self._handle.record = self.record
        return self._handle

    def preview(self) -> None:
        """No quick preview over ssh: the stream sends the history first, in 1 MB chunks."""
        return None

    def read_ahead(self) -> None:
        """Nothing to start early: the stream begins once the worker runs."""

    # Finding the files -------------------------------------------------------------------------

    def resolve(self, interactive: bool = False) -> None:
        """Connect and find what to follow. Raises SshError (no connection) or UnreadableLog (no
        such file, permission denied, no log in the directory), each one line for the user."""
        self.connection.connect(interactive=interactive)
        if self.files is not None:
            return
        result = self.connection.run(probe_script(self.target.path, LISTING_DEPTH))
        lines = result.stdout.decode("utf-8", "replace").splitlines()
        answer = next((line.split(" ", 2)[1:] for line in lines if line.startswith(MARK + " ")), None)
        if answer is None:
            raise SshError(f"ssh {self.host}: the remote shell did not run the probe "
                           f"({result.stderr.decode(errors='replace').strip()[:120] or 'no output'})")
        kind, where = answer[0], (answer[1] if len(answer) > 1 else "")
        if kind == "missing":
            raise UnreadableLog(f"{self.target}: no such file or directory")
        if kind == "denied":
            raise UnreadableLog(f"{self.target}: permission denied")
        if kind == "notfile":
            raise UnreadableLog(f"{self.target}: not a regular file or directory")
        if kind == "file":
            self.files = [_remote_file(where, "log")]
            return
        if f"{MARK} rundir" in lines:
            self.run_dir = where
            self.files = [_remote_file(f"{where}/{EVENT_LOG_NAME}", "log"),
                          _remote_file(f"{where}/{RUN_RECORD_NAME}", "record")]
        else:
            prefix = where.rstrip("/") + "/"
            listing = [line[len(prefix):] for line in lines if line.startswith(prefix)]
            try:
                paths = pick_logs(where, listing)
            except UnreadableLog:
                paths = [f"{where}/{EVENT_LOG_NAME}"]  # a run directory still waiting for its first event
            self.files = [_remote_file(path, "log") for path in paths]
        known = {file.path for file in self.files}
        self.files += [_remote_file(f"{where}/{name}", "output") for name in OUTPUT_FILE_NAMES
                       if f"{where}/{name}" not in known]

    # Following ---------------------------------------------------------------------------------

    def batches(self) -> Iterator[FollowBatch]:
        attempt = 0  # failed connections in a row
        last_problem = None
        planned_restart = False
        try:
            while not self._stopped.is_set():
                try:
                    if not planned_restart:
                        yield FollowBatch(connection="reconnecting…" if last_problem else "connecting…",
                                          more=not self.synced_once)
                    planned_restart = False
                    self.resolve()
                    if last_problem is not None:
                        self.reconnects += 1
                    for batch in self._stream(announce_reconnect=last_problem is not None):
                        attempt, last_problem = 0, None
                        yield batch
                except (SshError, ProtocolError, UnreadableLog) as error:
                    problem = str(error)
                else:
                    if self._stopped.is_set():
                        break
                    if self._restart_wanted:  # a file added, or found to be rewritten whole
                        self._restart_wanted, planned_restart = False, True
                        continue
                    problem = f"ssh {self.host}: the stream ended"
                delay = BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS) - 1)]
                attempt += 1
                notices = [f"{problem}; reconnecting"] if problem != last_problem else []
                last_problem = problem
                reason = problem.removeprefix(f"ssh {self.host}: ")  # the header names the host already
                yield FollowBatch(notices=notices, connection=f"retry {attempt} in {delay:g} s: {reason}",
                                  more=not self.synced_once)
                self._stopped.wait(delay)
        finally:
            self._end_stream()
            self.connection.close()

    def read_history(self) -> list:
        """Every record the remote target holds now, then the connection closed: what `check
        host:PATH` diagnoses. One stream round to the first sync (no retries: an ssh failure is
        raised, SshError or UnreadableLog), then each log's reader finished as a local whole read
        finishes it (an unterminated last line counts, an incomplete record is said), and the
        files' records ordered by step when there are several, as `read_target` does."""
        records: list = []
        try:
            while True:
                self.resolve()
                for batch in self._stream(announce_reconnect=False):
                    records.extend(batch.records)
                    if self.synced_once:
                        break
                if not self._restart_wanted:
                    break
                self._restart_wanted = False  # a file turned out to be rewritten whole: stream it so
            for file in self.log_files:
                reader = file.decoder.reader
                if reader is not None and not reader.rewrites_whole:
                    records.extend(reader.finish())
        finally:
            self._end_stream()
            self.connection.close()
        if len(self.log_files) > 1:
            order_merged_records(records)
        return records

    def _stream(self, announce_reconnect: bool) -> Iterator[FollowBatch]:
        files = self.files or []
        self._end_stream()
        process = self.stream_process = self.connection.stream(
            stream_script([file.streamed() for file in files], self.poll_seconds, CHUNK_BYTES))
        parser = StreamProtocolParser()
        descriptor = process.stdout.fileno()
        heard_at = time.monotonic()
        synced = False
        while not self._stopped.is_set() and not self._restart_wanted:
            ready, _, _ = select.select([descriptor], [], [], 0.25)
            if not ready:
                if time.monotonic() - heard_at > SILENT_AFTER_SECONDS:
                    raise SshError(f"ssh {self.host}: no word from the host for {SILENT_AFTER_SECONDS:.0f} s")
                continue
            data = os.read(descriptor, CHUNK_BYTES)
            if not data:
                raise SshError(self._why_stream_ended(process))
            heard_at = time.monotonic()
            batch = FollowBatch()
            for event in parser.feed(data):
                if event.file_number == 0:
                    if event.kind == "sync" and not synced:
                        synced = self.synced_once = True
                        batch.connection = "connected"
                        if announce_reconnect:
                            batch.notices.append(f"ssh {self.host}: reconnected; resumed where the stream stopped")
                    continue
                if not 0 < event.file_number <= len(files):
                    raise ProtocolError(f"the remote script named file {event.file_number} of {len(files)}")
                self._apply(files[event.file_number - 1], event, batch)
            self.trainer_logged = self.trainer_logged or has_trainer_events(batch.records)
            if synced:
                self._maybe_read_printed_metrics(batch)
            batch.more = not self.synced_once  # the history is read whole before the first screen
            if len(self.log_files) > 1:
                order_merged_records(batch.records)
            if batch or synced:
                yield batch

    def _why_stream_ended(self, process: subprocess.Popen) -> str:
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
        failure = self.connection.master_failure()
        if failure:
            return failure
        stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
        return describe_ssh_failure(stderr, self.host, process.returncode)

    def _end_stream(self) -> None:
        process, self.stream_process = self.stream_process, None
        if process is not None:
            end_process(process, grace_seconds=2)
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()

    # One event ---------------------------------------------------------------------------------

    def _apply(self, file: RemoteFile, event: StreamEvent, batch: FollowBatch) -> None:
        name = self.target.at(file.path)
        # Only a log's comings and goings are news: missing output files are normal, and run.json
        # is replaced on every update.
        announce = file.role == "log"
        kind = event.kind
        if kind == "ino":
            if file.at.presence == "missing" and file.at.seen and announce:
                batch.notices.append(file_notice("back", name))
            file.at.identity, file.at.presence, file.at.seen = event.args[0], "ok", True
        elif kind == "replaced":
            self._end_file(file, batch, keep_partial_line=True)
            file.at.identity, file.at.presence, file.at.seen = event.args[0], "ok", True
            if announce:
                batch.notices.append(file_notice("rotated", name))
        elif kind == "missing":
            if file.at.presence == "ok":
                self._end_file(file, batch, keep_partial_line=True)
                if announce:
                    batch.notices.append(file_notice("deleted", name))
            elif file.at.presence == "" and announce:
                batch.notices.append(file_notice("missing", name))
            file.at.presence, file.at.identity = "missing", NO_IDENTITY
        elif kind == "denied":
            if file.at.presence != "denied":
                batch.notices.append(file_notice("denied", name))
            file.at.presence = "denied"
        elif kind == "truncated":
            self._end_file(file, batch, keep_partial_line=False)
            if announce:
                batch.notices.append(file_notice("truncated", name))
        elif kind == "data":
            if int(event.args[0]) != file.at.offset:
                raise ProtocolError(f"{name}: the stream sent byte {event.args[0]}, expected {file.at.offset}")
            file.at.took(event.payload)
            batch.modified_at = time.time()  # when it arrived: within a poll of when it was written
            self._feed(file, event.payload, batch)
        elif kind == "whole":
            batch.modified_at = time.time()
            self._replace(file, event.payload, batch)

    def _end_file(self, file: RemoteFile, batch: FollowBatch, keep_partial_line: bool) -> None:
        file.at.start_over()
        file.undetected.clear()
        if file.at.presence != "unreadable":
            file.decoder.end_of_file(batch, keep_partial_line)

    def _feed(self, file: RemoteFile, data: bytes, batch: FollowBatch) -> None:
        if file.at.presence == "unreadable":
            return
        decoder = file.decoder
        if decoder.parse and decoder.reader is None:
            file.undetected += data
            try:
                if not decoder.detect(bytes(file.undetected[:DETECT_BYTES])):
                    return
            except UnreadableLog as error:
                file.at.presence = "unreadable"
                batch.notices.append(f"{self.host}:{error}")
                return
            data = bytes(file.undetected)
            file.undetected.clear()
            if decoder.rewrites_whole:  # a JSON document, not lines: follow it as a whole file
                file.whole = True
                file.at.start_over()
                self._restart_wanted = True
                return
        lines_before = len(batch.output_lines)
        decoder.feed(data, batch)
        if not file.show_output:
            del batch.output_lines[lines_before:]  # the output file already shows these lines

    def _replace(self, file: RemoteFile, data: bytes, batch: FollowBatch) -> None:
        if file.role == "record":
            try:
                self.record = parse_run_record(data.decode("utf-8", "replace"), self.run_dir or "",
                                               self.target.at(file.path))
            except NotOurRun as error:
                batch.notices.append(str(error))
            return
        decoder = file.decoder
        try:
            if not decoder.detect(data[:DETECT_BYTES]):
                return
        except UnreadableLog as error:
            batch.notices.append(f"{self.host}:{error}")
            return
        if decoder.replace(data, batch, first=not file.replaced_once):
            file.replaced_once = True

    def _maybe_read_printed_metrics(self, batch: FollowBatch) -> None:
        """As for a local run directory: a trainer without the integration is read from its stdout."""
        record = self.record
        if (self._printed_metrics is not None or self.run_dir is None or record is None
                or self.trainer_logged or not printed_metrics_due(record)):
            return
        self._printed_metrics = _remote_file(f"{self.run_dir}/{OUTPUT_FILE_NAMES[0]}", "log")
        self._printed_metrics.show_output = False
        self.files.append(self._printed_metrics)
        self._restart_wanted = True
        batch.notices.append(PRINTED_METRICS_NOTICE)

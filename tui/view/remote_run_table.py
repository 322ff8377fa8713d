"""The runs under a folder on another machine, for the runs screen and `trainwatch ls host:PATH`:
two round trips over the host's ssh connection per refresh, one listing the run directories
(with their run.json), one fetching every log's bytes added since the last look; each run is then
tailed and diagnosed here exactly as a local one (view/run_table.py)."""
from __future__ import annotations

from tui.readers.log_reader import LISTING_DEPTH, UnreadableLog, pick_logs
from tui.runs.run_listing import LIVE_WITHIN_SECONDS, RunEntry
from tui.runs.run_record import NotOurRun, parse_run_record
from tui.runs.sh_scripts import MARK
from tui.ssh.remote_scripts import chunks_script, runs_script
from tui.ssh.remote_target import RemoteTarget
from tui.ssh.ssh_connection import SshConnection, SshError
from tui.view.run_table import MAX_BYTES_PER_REFRESH, RunRow, RunTail, run_row

# Over ssh each refresh fetches at most this much per log (a first look at a big log catches up
# over several refreshes).
REMOTE_BYTES_PER_REFRESH = 2 << 20


class RemoteRunTable:
    def __init__(self, target: RemoteTarget, thresholds: dict | None = None,
                 connection: SshConnection | None = None) -> None:
        self.target = target
        self.root = str(target)
        self.host = target.host
        self.thresholds = thresholds
        self.connection = connection or SshConnection(target.destination)
        self._tails: dict[str, RunTail] = {}
        self.problem = ""  # why the last refresh found nothing ("ssh twtest: connection refused")

    def rows(self, now: float) -> list[RunRow]:
        try:
            return self._rows(now)
        except (SshError, OSError) as error:
            self.problem = str(error)
            return [RunRow(self.root, self.root, self.host, "unreachable", self.problem, "", "", "", "", "", "")]

    def _rows(self, now: float) -> list[RunRow]:
        self.connection.connect()
        listing = self.connection.run(runs_script(self.target.path, LISTING_DEPTH + 1)).stdout
        runs = parse_runs(listing)
        entries, requests = [], []
        for run_dir, modified, files, record_text in runs:
            record, problem = None, None
            if record_text is not None:
                try:
                    record = parse_run_record(record_text.decode("utf-8", "replace"), run_dir, self.target.at(run_dir))
                except NotOurRun as error:
                    problem = str(error)
            name = run_dir.rstrip("/").rsplit("/", 1)[-1]
            if problem is not None:
                entries.append((RunEntry(self.target.at(run_dir), name, modified, False, problem=problem), None))
                continue
            try:
                paths = pick_logs(run_dir, files)
            except UnreadableLog:
                if record is None:
                    continue  # no log and no record: not a run
                paths = []
            tail = self._tails.get(run_dir)
            if tail is None or tail.paths != paths:
                tail = self._tails[run_dir] = RunTail(run_dir, self.thresholds)
                tail.paths = paths
            # A launched run is alive until its supervisor recorded how it ended (its pid cannot be
            # checked from here without another round trip); any other while it is being written.
            live = record.ended is None and record.exit_code is None if record else now - modified <= LIVE_WITHIN_SECONDS
            entries.append((RunEntry(self.target.at(run_dir), name, modified, live, record), tail))
            requests += [(tail, path) for path in paths]
        if requests:
            self._fetch(requests, now)
        rows = [RunRow(entry.path, entry.name, self.host, "unreadable", entry.problem or "", "", "", "", "", "", "")
                if tail is None else run_row(entry, tail.live, self.host) for entry, tail in entries]
        for row in rows:
            if row.parent:
                row.parent = self.target.at(row.parent)  # the parent is a run of that host too (the tree)
        rows.sort(key=lambda row: -next(entry.modified_at for entry, _ in entries if entry.path == row.path))
        self._tails = {run_dir: tail for run_dir, tail in self._tails.items()
                       if any(run[0] == run_dir for run in runs)}
        self.problem = ""
        return rows

    def _fetch(self, requests: list[tuple[RunTail, str]], now: float) -> None:
        script = chunks_script([(0 if tail.whole(path) else tail.offset_of(path), path) for tail, path in requests],
                               min(REMOTE_BYTES_PER_REFRESH, MAX_BYTES_PER_REFRESH))
        output = self.connection.run(script).stdout
        for number, truncated, data in parse_chunks(output):
            if not 1 <= number <= len(requests):
                continue
            tail, path = requests[number - 1]
            if truncated:
                tail.reset()
            if data is not None and (data or tail.whole(path)):
                tail.take(path, data, tail.whole(path), now)


def parse_runs(output: bytes) -> list[tuple[str, float, list[str], bytes | None]]:
    """(run dir, mtime, its listing relative to it, run.json's bytes or None) per run directory."""
    runs: list[tuple[str, float, list[str], bytes | None]] = []
    position = 0
    current: list | None = None
    while position < len(output):
        end = output.find(b"\n", position)
        end = len(output) if end < 0 else end
        line = output[position:end].decode("utf-8", "replace")
        position = end + 1
        if line.startswith(f"{MARK} run "):
            fields = line.split(" ", 3)
            if len(fields) == 4:
                mtime = float(fields[2]) if fields[2].isdigit() else 0.0
                current = [fields[3], mtime, [], None]
                runs.append(current)  # filled in as its lines arrive
        elif line.startswith(f"{MARK} record ") and current is not None:
            length = line.split()[2]
            size = int(length) if length.isdigit() else 0
            current[3] = output[position: position + size]
            position += size + 1  # the record and the newline the script adds after it
        elif current is not None and line.startswith(current[0] + "/"):
            current[2].append(line[len(current[0]) + 1:])
    return [tuple(run) for run in runs]


def parse_chunks(output: bytes) -> list[tuple[int, bool, bytes | None]]:
    """(request number, truncated, bytes or None when missing) from the chunks script's output."""
    found: dict[int, list] = {}
    position = 0
    while position < len(output):
        end = output.find(b"\n", position)
        if end < 0:
            break
        fields = output[position:end].decode("utf-8", "replace").split()
        position = end + 1
        if len(fields) < 3 or fields[0] != MARK or not fields[2].isdigit():
            break  # the framing is lost (a file shrank mid-read): the rest waits for the next look
        number = int(fields[2])
        entry = found.setdefault(number, [number, False, None])
        if fields[1] == "truncated":
            entry[1] = True
        elif fields[1] == "data" and len(fields) == 5 and fields[4].isdigit():
            length = int(fields[4])
            data = output[position: position + length]
            if len(data) < length:
                found.pop(number)
                break
            entry[2] = data
            position += length
        elif fields[1] != "missing":
            break
    return [tuple(entry) for entry in found.values()]

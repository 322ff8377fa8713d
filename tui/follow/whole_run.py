"""A target read whole into a RunModel, headlessly: what `check` diagnoses, `ls` summarises and the
charts draw faint for a restarted run's parent. One reading for all three."""
from __future__ import annotations

import os

from tui.follow.remote_follower import RemoteFollower
from tui.follow.target_follower import PRINTED_METRICS_NOTICE
from tui.model.run_model import RunModel
from tui.readers import UnreadableLog, read_target
from tui.runs.run_record import OUTPUT_FILE_NAMES, is_run_dir
from tui.ssh.remote_target import parse_remote_target


def read_whole_run(target: str) -> RunModel:
    """Every record of ``target``; raises UnreadableLog (and OSError) as read_target does. A
    ``host:PATH`` target is read over ssh, through the stream that follows it (SshError too)."""
    remote = parse_remote_target(target)
    if remote is not None:
        return _read_remote_run(remote)
    model = RunModel()
    contents = read_target(target, sink=model.apply)
    model.source, model.format_name = contents.source, contents.format_name
    _read_printed_output(target, model)
    return model


def _read_remote_run(remote) -> RunModel:
    follower = RemoteFollower(remote)
    records = follower.read_history()
    model = RunModel()
    model.apply(records)
    model.source, model.format_name = follower.source, follower.format_name
    return model


def _read_printed_output(target: str, model: RunModel) -> None:
    """A launched run whose trainer wrote no event log (only the supervisor's final status) is read
    from what it printed, as the UI reads it: check, ls and the screen agree on such a run."""
    if not is_run_dir(target) or model.series_names() or model.decode_count:
        return
    printed = os.path.join(target, OUTPUT_FILE_NAMES[0])
    try:
        if os.path.getsize(printed) == 0:
            return
        contents = read_target(printed, sink=model.apply)
    except (OSError, UnreadableLog):
        return  # nothing readable printed either: the event log's "no metrics" stands
    model.source, model.format_name = contents.source, contents.format_name
    model.notices.append(PRINTED_METRICS_NOTICE)

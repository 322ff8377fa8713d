"""`trainwatch tail TARGET` and bare `trainwatch`: check the target before the screen opens (a
remote one is connected first, so ssh can still prompt), then run the app on it."""
from __future__ import annotations

import shlex
import sys


def run_ui(target: str | None, theme: str | None, config: str | None) -> int:
    """Open the live UI on a target, or on the newest run under ./runs when there is none."""
    from tui.diagnosis.config import ConfigError, load_thresholds
    from tui.follow.open_target import open_target
    from tui.readers import SeveralRuns, UnreadableLog
    from tui.runs.run_listing import list_runs
    from tui.runs.run_record import RUNS_DIR
    from tui.settings.user_config import configured_hosts, remembered_theme
    from tui.ssh.ssh_connection import SshError

    follower, choices = None, None
    try:
        thresholds = load_thresholds(config)
        if target is not None:
            # Opened here, once: a missing or unusable target is refused before the screen opens, and
            # a remote one is connected first, so ssh can still ask for a passphrase or a new host key.
            try:
                follower = open_target(target, connect=True, interactive=sys.stdin.isatty())
                follower.read_ahead()
            except SeveralRuns as several:
                if not (sys.stdin.isatty() and sys.stdout.isatty()):
                    raise  # no one to ask: one line naming them
                choices, target = tensorboard_runs(target, several.runs), None  # the screen asks which
        elif not list_runs(RUNS_DIR) and not configured_hosts()[0]:
            print(f"trainwatch: no runs under ./{RUNS_DIR}; follow a log with `trainwatch tail FILE`",
                  file=sys.stderr)
            return 2
    except (UnreadableLog, ConfigError, SshError) as error:
        print(f"trainwatch: {error}", file=sys.stderr)
        return 2
    from tui.app.app import TrainWatch  # Textual is imported only when a screen is wanted

    hosts, problems = configured_hosts() if target is None else ([], [])
    for problem in problems:
        print(f"trainwatch: warning: {problem}", file=sys.stderr)
    app = TrainWatch(target, theme=theme or remembered_theme(), thresholds=thresholds, follower=follower,
                     choices=choices, hosts=hosts)
    app.run()
    if app.failure:
        print(app.failure, file=sys.stderr)  # after the screen closed, so it stays readable
    elif app.target is not None:
        # The screen is gone: the terminal's last line says what it was following and how to return.
        state = f" ({app.last_state})" if app.last_state else ""
        print(f"trainwatch: left {app.target}{state}: `trainwatch tail {shlex.quote(app.target)}` follows it again")
    return app.return_code or 0


def tensorboard_runs(folder: str, paths: list[str]):
    """The runs of a folder of TensorBoard runs, as the picker lists them (newest first)."""
    import os
    import time

    from tui.runs.run_listing import LIVE_WITHIN_SECONDS, RunEntry

    now, entries = time.time(), []
    for path in paths:
        try:
            modified = max(os.stat(os.path.join(root, name)).st_mtime
                           for root, _, names in os.walk(path) for name in names if "tfevents" in name)
        except (OSError, ValueError):
            continue  # gone since it was listed
        name = os.path.relpath(path, folder)  # "exp1", or "." for event files in the folder itself
        entries.append(RunEntry(path.rstrip("/"), name, modified, now - modified <= LIVE_WITHIN_SECONDS))
    return entries

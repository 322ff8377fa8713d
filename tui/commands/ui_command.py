"""`trainwatch tail TARGET` and bare `trainwatch`: check the target before the screen opens (a
remote one is connected first, so ssh can still prompt), then run the app on it."""
from __future__ import annotations

import shlex
import sys


def run_ui(target: str | None, theme: str | None, config: str | None) -> int:
    """Open the live UI on a target, or on the newest run under ./runs when there is none."""
    from tui.diagnosis.config import ConfigError, load_thresholds
    from tui.follow.open_target import open_target
    from tui.readers import UnreadableLog
    from tui.runs.run_listing import list_runs
    from tui.runs.run_record import RUNS_DIR
    from tui.settings.user_config import remembered_theme
    from tui.ssh.ssh_connection import SshError

    follower = None
    try:
        thresholds = load_thresholds(config)
        if target is not None:
            # Opened here, once: a missing or unusable target is refused before the screen opens, and
            # a remote one is connected first, so ssh can still ask for a passphrase or a new host key.
            follower = open_target(target, connect=True, interactive=sys.stdin.isatty())
        elif not list_runs(RUNS_DIR):
            print(f"trainwatch: no runs under ./{RUNS_DIR}; follow a log with `trainwatch tail FILE`",
                  file=sys.stderr)
            return 2
    except (UnreadableLog, ConfigError, SshError) as error:
        print(f"trainwatch: {error}", file=sys.stderr)
        return 2
    from tui.app.app import TrainWatch  # Textual is imported only when a screen is wanted

    app = TrainWatch(target, theme=theme or remembered_theme(), thresholds=thresholds, follower=follower)
    app.run()
    if app.failure:
        print(app.failure, file=sys.stderr)  # after the screen closed, so it stays readable
    elif app.target is not None:
        # The screen is gone: the terminal's last line says what it was following and how to return.
        state = f" ({app.last_state})" if app.last_state else ""
        print(f"trainwatch: left {app.target}{state}: `trainwatch tail {shlex.quote(app.target)}` follows it again")
    return app.return_code or 0

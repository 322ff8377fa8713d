"""The one place a target the user names (a path, or ``host:PATH``) becomes a follower and a run
handle. The CLI, the app (its run picker and a restart's child run) and the control verbs all come
here, so the remote-or-local check, the format detection and the run record are done once."""
from __future__ import annotations

from tui.follow.follower import Follower
from tui.follow.remote_follower import RemoteFollower
from tui.follow.target_follower import TargetFollower
from tui.runs.run_control import RunHandle
from tui.runs.run_record import RUN_RECORD_NAME, NotOurRun
from tui.ssh.remote_target import parse_remote_target
from tui.ssh.ssh_run_host import SshRunHost


def open_target(target: str, *, poll_seconds: float = 1.0, connect: bool = False,
                interactive: bool = False) -> Follower:
    """A follower for ``target``. A local target is checked at once (UnreadableLog: missing, not
    readable, no log in the directory). A remote one is connected and resolved now when ``connect``
    (the CLI, before the screen opens, so ssh can still ask for a passphrase: SshError or
    UnreadableLog), else by its worker on its first round."""
    remote = parse_remote_target(target)
    if remote is None:
        return TargetFollower(target, poll_seconds)
    follower = RemoteFollower(remote)
    if connect:
        try:
            follower.resolve(interactive=interactive)
        except BaseException:
            follower.connection.close()
            raise
    return follower


def open_run_handle(target: str, *, interactive: bool = False) -> RunHandle:
    """The launched run at ``target``, to stop, checkpoint or change the LR of (NotOurRun when the
    directory is no run of ours)."""
    remote = parse_remote_target(target)
    if remote is None:
        return RunHandle(target)
    follower = RemoteFollower(remote)
    follower.resolve(interactive=interactive)
    if follower.run_dir is None:
        follower.connection.close()
        raise NotOurRun(f"{remote}: not a run directory made by `trainwatch run` (no {RUN_RECORD_NAME})")
    # Its record read now, by the host's trusted load (the stream that would bring it is not started).
    return RunHandle(follower.run_dir, SshRunHost(follower.connection))

"""ssh as trainwatch runs it, against the real test sshd: a host that ssh would read as an option is
refused, the control socket never goes into a directory someone else planted, and the master
connection never outlives trainwatch, however trainwatch is killed."""
from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from run_helpers import another_user, wait_for
from tui.ssh import ssh_connection
from tui.ssh.ssh_connection import SSH_COMMAND_ENV, SshConnection, SshError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")


def processes_with_argument(part: str) -> dict[int, list[str]]:
    """Every process with an argument containing ``part``: pid -> argv."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                argv = [word.decode(errors="replace") for word in file.read().split(b"\0") if word]
        except OSError:
            continue
        if any(part in word for word in argv):
            found[int(entry)] = argv
    return found


def ssh_masters(part: str) -> dict[int, list[str]]:
    """The ssh master processes (not their guard) whose argv names a control path containing ``part``."""
    return {pid: argv for pid, argv in processes_with_argument(part).items()
            if os.path.basename(argv[0]) == "ssh" and "-M" in argv}


def test_a_host_ssh_would_read_as_an_option_is_refused(ssh_server, tmp_path):
    """`trainwatch tail -- -oProxyCommand=...:PATH` and `trainwatch stop` of the same: one line,
    exit 2, and the command never runs."""
    injected = "-oProxyCommand=touch${IFS}pwned"
    for argv in (["tail", "--", f"{injected}:/x.log"], ["stop", "--", f"{injected}:/runs/a"],
                 ["tail", "--", f"{injected}@twtest:/x.log"]):
        result = subprocess.run([sys.executable, "-m", "tui.cli", *argv], capture_output=True, text=True,
                                env={**ssh_server.environment(), "PYTHONPATH": REPO}, cwd=tmp_path, timeout=60,
                                stdin=subprocess.DEVNULL)
        assert result.returncode == 2, (argv, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot start with '-'" in lines[0], (argv, result.stderr)
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(SshError, match="cannot start with '-'"):
        SshConnection("me@-oProxyCommand=x")


@pytest.fixture
def planted_temp_dir(monkeypatch):
    """A fresh, short stand-in for /tmp (socket paths are limited to ~100 bytes) with no
    $XDG_RUNTIME_DIR, so the control directory is made in it as in /tmp; the real /tmp's
    trainwatch-UID, which other tests use, is left alone."""
    base = tempfile.mkdtemp(prefix="tw", dir="/tmp")
    os.chmod(base, 0o1777)  # like /tmp: anyone may create names in it
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", base)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def assert_connects_with_a_private_directory(planted: str) -> str:
    """A real connection to the test sshd, its socket in a directory that is ours and 0700."""
    connection = SshConnection("twtest")
    try:
        directory = os.path.dirname(connection.control_path)
        assert os.path.realpath(directory) != os.path.realpath(planted)
        info = os.lstat(directory)
        assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
        assert connection.run("echo over-ssh").stdout == b"over-ssh\n"
        masters = ssh_masters(connection.control_path)
        assert len(masters) == 1, masters
        argv = next(iter(masters.values()))
        assert argv[-2:] == ["--", "twtest"], argv  # the destination after --, never read as an option
        return directory
    finally:
        connection.close()


@pytest.mark.parametrize("planting", ["link to a directory of ours", "directory of another user",
                                      "directory of ours that others can write", "file"])
def test_the_control_socket_never_goes_into_a_planted_directory(over_ssh, planted_temp_dir, planting):
    planted = os.path.join(planted_temp_dir, f"trainwatch-{os.getuid()}")
    victim = tempfile.mkdtemp(prefix="tw-victim-")  # where a planted link points
    os.chmod(victim, 0o755)
    try:
        with contextlib.ExitStack() as stack:
            if planting == "link to a directory of ours":
                os.symlink(victim, planted)
            elif planting == "directory of another user":
                user = stack.enter_context(another_user("twplant"))
                os.mkdir(planted)
                subprocess.run(["chown", user, planted], check=True)
                os.chmod(planted, 0o777)
            elif planting == "directory of ours that others can write":
                os.mkdir(planted)
                os.chmod(planted, 0o777)
            else:
                with open(planted, "w") as file:
                    file.write("not a directory\n")
            before = os.lstat(planted)
            assert_connects_with_a_private_directory(planted)
            after = os.lstat(planted)
            assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)  # left as it was
            if os.path.isdir(planted):
                assert os.listdir(planted) == []
            assert os.listdir(victim) == [] and stat.S_IMODE(os.stat(victim).st_mode) == 0o755
    finally:
        shutil.rmtree(victim, ignore_errors=True)


def test_the_control_directory_is_made_owner_only_whatever_the_umask(over_ssh, planted_temp_dir):
    previous = os.umask(0o000)
    try:
        directory = assert_connects_with_a_private_directory("/nonexistent")
    finally:
        os.umask(previous)
    assert directory == os.path.join(planted_temp_dir, f"trainwatch-{os.getuid()}")  # made, and used


def _parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat_line = file.read()
    except OSError:
        return None
    return int(stat_line[stat_line.rfind(")") + 2:].split()[1])


def _screen(tmux: list[str], session: str) -> str:
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


@pytest.mark.parametrize("how, reconnect_first", [("SIGKILL", False), ("SIGTERM", False), ("SIGHUP", True),
                                                  ("SIGKILL", True)])
def test_the_ssh_master_never_outlives_trainwatch(ssh_server, tmp_path, how, reconnect_first):
    """`trainwatch tail twtest:LOG` in a real terminal (tmux), killed with SIGKILL or SIGTERM, or
    its terminal closed (the kernel's SIGHUP): within seconds no ssh master of it is left. With
    ``reconnect_first`` its first master is killed so a worker thread starts the next one, in a
    session of its own that no terminal signal reaches."""
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    (tmp_path / "r").mkdir()
    log = tmp_path / "r" / "events.jsonl"
    log.write_text('{"event": "metrics", "time": 1, "step": 0, "epoch": 0, "metrics": {"loss": 0.9}}\n')
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    session = "guarded"
    # The shell stays after trainwatch dies, as a login shell would: the terminal stays open, so
    # only the terminal's own hangup (kill-server) sends anyone a SIGHUP.
    command = (f"env XDG_CONFIG_HOME={tmp_path} TERM=xterm-256color "
               f"{SSH_COMMAND_ENV}={shlex.quote(ssh_server.ssh_command)} {TRAINWATCH} tail twtest:{log}; sleep 60")
    subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "100", "-y", "30", command], check=True)
    pid = None
    try:
        shell = int(subprocess.run(tmux + ["list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True,
                                   text=True, check=True).stdout.strip())
        pid = wait_for(lambda: next((child for child, argv in processes_with_argument("tail").items()
                                     if _parent_of(child) == shell), None), 30, "trainwatch to start")
        ours = f"/{pid}-"  # trainwatch names its control sockets PID-N
        wait_for(lambda: "ssh connected" in _screen(tmux, session), 60, "the screen over ssh")
        first = wait_for(lambda: ssh_masters(ours), 10, "trainwatch's ssh master")
        if reconnect_first:
            for master in first:
                os.kill(master, signal.SIGKILL)  # the link drops: the follower's thread reconnects
            wait_for(lambda: set(ssh_masters(ours)) - set(first), 30, "a new master after the drop")
            wait_for(lambda: "ssh connected" in _screen(tmux, session), 30, "the screen connected again")
        if how == "SIGHUP":
            subprocess.run(tmux + ["kill-server"], check=True)  # the terminal goes away
        else:
            os.kill(pid, getattr(signal, how))
        wait_for(lambda: _parent_of(pid) != shell, 10, "trainwatch to die")  # reaped, or left to init
        left = processes_with_argument(ours)
        deadline = time.monotonic() + 10
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = processes_with_argument(ours)
        assert not left, f"trainwatch's ssh connection outlived it: {left}"
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        for leftover in processes_with_argument(f"/{pid}-") if pid else {}:
            os.kill(leftover, signal.SIGKILL)  # what this test started, should it have failed

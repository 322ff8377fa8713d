"""Pointed at hostile files, trainwatch stays safe: only a run's own processes are ever signalled
(here, inside a PID namespace, and over the real sshd as a throwaway unprivileged user whose
remote `sh` is bash), a run is acted on only when its directory, record and control file are the
user's alone (a second real user in a group-shared setgid directory tries), and no write follows
a link planted under a name trainwatch writes.

The "every process of the user" bug is reproduced only as a throwaway user, never as root: as
root it would signal the whole machine.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import signal
import stat
import subprocess
import textwrap
from dataclasses import dataclass

import pytest

from run_helpers import PYTHON, wait_for
from tui.follow.target_follower import TargetFollower
from tui.runs.control_client import ControlError, append_command, new_command
from tui.runs.launcher import launch_run
from tui.runs.process_state import process_start_ticks
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.runs.run_record import load_run_record
from tui.runs.sh_scripts import MARK, shell_script
from tui.ssh.remote_scripts import alive_script, signal_script
from tui.ssh.ssh_connection import SshConnection

from trainers.control import ControlChannel
from trainers.runlog import RunLog

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = StopTimeouts(graceful=5, interrupt=3, terminate=3)
LOOP = "import time\nprint('epoch 1 loss 0.5', flush=True)\nwhile True: time.sleep(0.05)"
# pid and start-ticks values no record may have signalled: -1 is "every process" to kill(2), 0 "my
# group", 1 init (and killpg(1) its group), true is 1 to Python, "1" becomes -1 in a shell.
BAD_PIDS = [(-1, 1), (0, 1), (1, 1), (True, 1), ("1", 1), (10**20, 1), (2.5, 1), ([2], 1)]

needs_root = pytest.mark.skipif(os.getuid() != 0, reason="creates throwaway users (useradd): needs root")


def trainwatch(*args: str, env: dict | None = None, timeout: float = 120) -> tuple[int, str, str]:
    done = subprocess.run([PYTHON, "-m", "tui", *args], capture_output=True, text=True, cwd=REPO, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)
    return done.returncode, done.stdout, done.stderr.strip()


def one_line(stderr: str) -> str:
    assert stderr and "\n" not in stderr and "Traceback" not in stderr, stderr
    return stderr


def write_record(run_dir: str, pid, start_ticks, command: list[str] | None = None, owner: int = -1) -> None:
    record = {"trainwatch": 1, "name": os.path.basename(run_dir), "command": command or ["sleep", "600"],
              "cwd": "/tmp", "run_dir": run_dir, "pid": pid, "pid_start_ticks": start_ticks}
    path = os.path.join(run_dir, "run.json")
    with open(path, "w") as file:
        json.dump(record, file)
    os.chmod(path, 0o644)
    os.chown(path, owner, -1)


@dataclass
class ThrowawayUser:
    name: str
    uid: int
    gid: int
    home: str

    def run(self, *command: str) -> subprocess.CompletedProcess:
        """A command as this user (a real second user, not root pretending)."""
        return subprocess.run(list(command), user=self.uid, group=self.gid, extra_groups=self.groups(),
                              capture_output=True, text=True, cwd="/", timeout=30)

    def groups(self) -> list[int]:
        return os.getgrouplist(self.name, self.gid)


@pytest.fixture
def throwaway_users():
    """Makes unprivileged users (unique names, homes under /tmp) and removes them, their
    processes and their homes afterwards."""
    made: list[ThrowawayUser] = []
    groups: list[str] = []
    processes: list[subprocess.Popen] = []

    def make(shell: str = "/bin/sh", group: str | None = None) -> ThrowawayUser:
        name = f"twsec{secrets.token_hex(4)}"
        home = f"/tmp/{name}"
        options = ["--groups", group] if group else []
        subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", shell, *options, name],
                       check=True, capture_output=True)
        subprocess.run(["usermod", "-p", "*", name], check=True, capture_output=True)  # key logins only
        os.chmod(home, 0o755)
        user = ThrowawayUser(name, int(subprocess.check_output(["id", "-u", name])),
                             int(subprocess.check_output(["id", "-g", name])), home)
        made.append(user)
        return user

    def make_group() -> str:
        name = f"twsecg{secrets.token_hex(3)}"
        subprocess.run(["groupadd", name], check=True, capture_output=True)
        groups.append(name)
        return name

    make.group = make_group
    make.processes = processes
    yield make
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10)
    for user in made:
        for attempt in range(20):  # its ssh sessions end a moment after the client exits
            if subprocess.run(["userdel", "--remove", user.name], capture_output=True).returncode in (0, 6):
                break
            subprocess.run(["sleep", "0.5"])
        else:
            subprocess.run(["userdel", "--force", "--remove", user.name], capture_output=True)
        shutil.rmtree(user.home, ignore_errors=True)
    for group in groups:
        subprocess.run(["groupdel", group], capture_output=True)


def bash_login_user(make) -> ThrowawayUser:
    """A user whose remote `sh` is bash, as on RHEL, Fedora or Arch: its login shell puts a `sh`
    that is bash first on PATH (the remote scripts run as `sh -s`)."""
    user = make(shell="/bin/bash")
    bin_dir = os.path.join(user.home, "bin")
    os.makedirs(bin_dir, mode=0o755)
    os.symlink("/bin/bash", os.path.join(bin_dir, "sh"))
    login = os.path.join(bin_dir, "login-shell")
    with open(login, "w") as file:
        file.write(f"#!/bin/bash\nPATH={bin_dir}:$PATH; export PATH\nexec /bin/bash \"$@\"\n")
    os.chmod(login, 0o755)
    subprocess.run(["usermod", "--shell", login, user.name], check=True, capture_output=True)
    return user


def user_run_dir(user: ThrowawayUser) -> str:
    run_dir = os.path.join(user.home, "runs", "target-1")
    os.makedirs(run_dir)
    for path in (os.path.dirname(run_dir), run_dir):
        os.chown(path, user.uid, user.gid)
        os.chmod(path, 0o750)
    return run_dir


def start_sleeper(make, user: ThrowawayUser) -> subprocess.Popen:
    """The user's only other process, in a group of its own: it must survive every refused stop."""
    sleeper = subprocess.Popen(["sleep", "600"], user=user.uid, group=user.gid, cwd="/", start_new_session=True)
    make.processes.append(sleeper)
    wait_for(lambda: process_start_ticks(sleeper.pid) is not None, 10, "the sleeper")
    return sleeper


# 1. Signals reach only the run's own processes ------------------------------------------------

@needs_root
def test_a_remote_stop_never_signals_a_bad_pid(over_ssh, throwaway_users):
    user = bash_login_user(throwaway_users)
    run_dir = user_run_dir(user)
    sleeper = start_sleeper(throwaway_users, user)
    connection = SshConnection(f"{user.name}@twtest")
    try:
        answer = connection.run(shell_script([], 'echo "@TW $BASH_VERSION"')).stdout.decode()
        assert f"{MARK} " in answer and answer.split(MARK, 1)[1].strip(), f"the remote sh is not bash: {answer!r}"
    finally:
        connection.close()
    ticks = process_start_ticks(sleeper.pid)
    for pid, start_ticks in [*BAD_PIDS, (sleeper.pid, None), (sleeper.pid, "x")]:
        write_record(run_dir, pid, start_ticks, owner=user.uid)
        code, _, error = trainwatch("stop", f"{user.name}@twtest:{run_dir}", env=over_ssh.environment())
        assert sleeper.poll() is None, f"a stop of a record with pid {pid!r} killed the user's processes: {error}"
        assert code == 2 and "pid" in one_line(error), (pid, start_ticks, error)
    # The same stop of a record naming the sleeper, with its real start time, does reach it.
    write_record(run_dir, sleeper.pid, ticks, owner=user.uid)
    code, out, error = trainwatch("stop", f"{user.name}@twtest:{run_dir}", env=over_ssh.environment())
    assert code == 0 and "stopped by SIGINT" in out, (out, error)
    assert sleeper.wait(timeout=10) == -signal.SIGINT


@needs_root
def test_the_remote_scripts_check_the_pid_themselves(over_ssh, throwaway_users):
    """What the sh side does when a caller sends a bad pid anyway: refuses, under bash."""
    user = bash_login_user(throwaway_users)
    run_dir = user_run_dir(user)
    sleeper = start_sleeper(throwaway_users, user)
    ticks = process_start_ticks(sleeper.pid)
    write_record(run_dir, sleeper.pid, ticks, owner=user.uid)
    connection = SshConnection(f"{user.name}@twtest")

    def answer(script: str) -> str:
        lines = connection.run(script).stdout.decode().splitlines()
        return next((line[len(MARK) + 1:] for line in lines if line.startswith(MARK + " ")), "")

    try:
        for pid, start_ticks in [(-1, ticks), ("-1", ticks), (0, ticks), (1, ticks), ("01", ticks), (True, ticks),
                                 ("1 -1", ticks), (10**20, ticks), (sleeper.pid, None), (sleeper.pid, "-1")]:
            assert answer(signal_script(run_dir, pid, start_ticks, "TERM")).startswith("refused "), pid
            assert answer(alive_script(pid, start_ticks)) == "dead", pid
            assert sleeper.poll() is None, f"the remote signal script with pid {pid!r} killed the user's sleeper"
        assert answer(signal_script(run_dir, sleeper.pid, ticks + 1, "TERM")) == "gone"  # a recycled pid
        assert answer(alive_script(sleeper.pid, ticks)) == "alive"
        assert sleeper.poll() is None
        assert answer(signal_script(run_dir, sleeper.pid, ticks, "TERM")) == "ok"
        assert sleeper.wait(timeout=10) == -signal.SIGTERM
    finally:
        connection.close()


# Runs as init of a fresh PID namespace: there, pid 1 is this script, and kill(-1) (which is also
# what killpg(1) is) reaches only the sleepers it starts, so an old bug that signals pid 1 or -1
# hits nothing outside. The first sleeper is pid 2; one that dies is noted and replaced.
NAMESPACE_INIT = textwrap.dedent("""
    import json, os, signal, subprocess, sys
    os.setsid()
    received = []
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, lambda signum, frame: received.append(signal.Signals(signum).name))
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    assert sleeper.pid == 2, sleeper.pid
    results, killed_by = [], []
    for run_dir in sys.argv[1:]:
        done = subprocess.run([sys.executable, "-m", "tui", "stop", run_dir], capture_output=True, text=True,
                              timeout=90, start_new_session=True)
        results.append([done.returncode, done.stderr.strip()])
        if sleeper.poll() is not None:
            killed_by.append(os.path.basename(run_dir))
            sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    print(json.dumps({"received": received, "sleeper_killed_by": killed_by, "results": results}))
    sleeper.kill()
""")


@needs_root
def test_a_local_stop_never_signals_a_bad_pid(tmp_path):
    """pid 1, true, -1, ... and the sleeper's pid without a start time, stopped with the real CLI."""
    if subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True).returncode:
        pytest.skip("no PID namespaces here (unshare --pid)")
    cases = [(2, None), (2, 12.5), *BAD_PIDS, (1, None)]  # 2: the sleeper, without a start time
    run_dirs = []
    for number, (pid, start_ticks) in enumerate(cases):
        run_dir = tmp_path / f"bad-{number}"
        run_dir.mkdir(mode=0o750)
        write_record(str(run_dir), pid, start_ticks)
        run_dirs.append(str(run_dir))
    done = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", PYTHON, "-c", NAMESPACE_INIT, *run_dirs],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["received"] == [], f"pid 1 was signalled: {report}"
    killed = [cases[int(name.removeprefix("bad-"))] for name in report["sleeper_killed_by"]]
    assert killed == [], f"a stop of these (pid, start ticks) killed a process outside the run: {killed}"
    for (pid, start_ticks), (code, error) in zip(cases, report["results"]):
        assert code == 2, (pid, start_ticks, error)
        assert "pid" in one_line(error), error


# 2. A run is acted on only when it is ours ------------------------------------------------------

@needs_root
def test_a_group_member_cannot_make_a_restart_run_their_command(throwaway_users):
    group = throwaway_users.group()
    member = throwaway_users(group=group)
    project = f"/tmp/twsec-project-{secrets.token_hex(4)}"
    os.mkdir(project)
    try:
        shutil.chown(project, group=group)
        os.chmod(project, 0o2775)  # a lab's shared project: setgid, group-writable
        old_umask = os.umask(0o002)
        try:
            record = launch_run([PYTHON, "-c", LOOP], root=os.path.join(project, "runs"), cwd=project, name="victim")
        finally:
            os.umask(old_umask)
        run_dir, record_path = record.run_dir, os.path.join(record.run_dir, "run.json")
        pid = record.pid
        try:
            wait_for(lambda: RunHandle(run_dir).alive, 30, "the run")
            info = os.stat(run_dir)
            assert stat.S_IMODE(info.st_mode) & 0o777 == 0o750 and info.st_mode & stat.S_ISGID, oct(info.st_mode)
            assert stat.S_IMODE(os.stat(record_path).st_mode) == 0o644
            marker = os.path.join(project, "pwned")
            forged = dict(json.load(open(record_path)), command=["/bin/sh", "-c", f"id -u > {marker}", "sh",
                                                                 "--lr", "0.1"])
            forged_path = os.path.join(project, "forged.json")
            with open(forged_path, "w") as file:
                json.dump(forged, file)
            os.chmod(forged_path, 0o644)
            # A new run: the group member can write neither the record nor the directory.
            assert member.run("sh", "-c", f"cat {forged_path} > {record_path}").returncode != 0
            assert member.run("cp", forged_path, os.path.join(run_dir, "planted")).returncode != 0

            # A run made as before (group-writable, as umask 002 left it): the member rewrites the record.
            os.chmod(run_dir, 0o2775)
            os.chmod(record_path, 0o664)
            assert member.run("sh", "-c", f"cat {forged_path} > {record_path}").returncode == 0
            code, out, error = trainwatch("restart", run_dir, "--preset", "lower-lr", "--resume", "none", "--yes")
            assert code == 2 and "the directory is writable by group or others" in one_line(error), (out, error)
            os.chmod(run_dir, 0o2750)  # the directory made private again: the record still is not
            code, out, error = trainwatch("restart", run_dir, "--preset", "lower-lr", "--resume", "none", "--yes")
            assert code == 2 and "run.json is writable by group or others" in one_line(error), (out, error)
            for action in (["stop", run_dir], ["lr", run_dir, "x0.5"], ["checkpoint", run_dir]):
                code, _, error = trainwatch(*action)
                assert code == 2 and "refusing to act on" in one_line(error), (action, error)
            # ... or replaces it with a file of their own, then makes it owner-only.
            os.chmod(run_dir, 0o2775)
            os.chmod(record_path, 0o644)
            replace = f"cp {forged_path} {run_dir}/new.json && chmod 600 {run_dir}/new.json && " \
                      f"mv -f {run_dir}/new.json {record_path} && chmod 644 {record_path}"
            assert member.run("sh", "-c", replace).returncode == 0, member.run("sh", "-c", replace).stderr
            os.chmod(run_dir, 0o2750)
            code, out, error = trainwatch("restart", run_dir, "--preset", "lower-lr", "--resume", "none", "--yes")
            assert code == 2 and "run.json belongs to another user" in one_line(error), (out, error)
            assert not os.path.exists(marker), "the restart ran the group member's command"
            assert os.getpgid(pid) == pid  # and the victim's run was not stopped either
            # Reading and tailing it stays allowed.
            assert load_run_record(run_dir).command[-1] == "0.1"
            assert TargetFollower(run_dir).record.command[-1] == "0.1"
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # by the pid we launched: the record is no longer ours to use
    finally:
        shutil.rmtree(project, ignore_errors=True)


def test_the_restart_confirmation_shows_the_full_command(tmp_path):
    command = [PYTHON, "-c", LOOP, "--lr", "0.1"]
    record = launch_run(command, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="shown",
                        env={"SECRET_FLAG": "a b"})
    try:
        done = subprocess.run([PYTHON, "-m", "tui", "restart", record.run_dir, "--preset", "lower-lr", "--resume",
                               "none"], capture_output=True, text=True, cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 2  # not a terminal: nothing restarted
        assert f"runs: {shlex.join([PYTHON, '-c', LOOP, '--lr', '0.02'])}" in done.stdout, done.stdout
        assert f"in: {tmp_path}" in done.stdout and "with: SECRET_FLAG='a b'" in done.stdout
    finally:
        RunHandle(record.run_dir).stop(FAST)


def test_new_run_directories_are_private_whatever_the_umask(tmp_path):
    for umask, expected in ((0o000, 0o750), (0o002, 0o750), (0o077, 0o700)):
        old = os.umask(umask)
        try:
            record = launch_run([PYTHON, "-c", "pass"], root=str(tmp_path / "runs"), cwd=str(tmp_path))
        finally:
            os.umask(old)
        assert stat.S_IMODE(os.stat(record.run_dir).st_mode) == expected, (oct(umask), record.run_dir)
        assert not os.stat(os.path.join(record.run_dir, "run.json")).st_mode & 0o022


# 3. No write follows a planted link -----------------------------------------------------------

def victim_file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    os.chmod(path, 0o600)  # the user's own private file: only a followed link could reach it
    return str(path)


def test_stop_writes_no_planted_link_at_the_record_temporary_name(tmp_path):
    record = launch_run([PYTHON, "-c", LOOP], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="links")
    handle = RunHandle(record.run_dir)
    wait_for(lambda: handle.alive, 30, "the run")
    victims = []
    # The names the old code used: run.json.<pid>.tmp of this process (the stop) and the supervisor.
    for writer in (os.getpid(), handle.record.supervisor_pid):
        victim = victim_file(tmp_path, f"victim-{writer}", "precious\n")
        os.symlink(victim, os.path.join(record.run_dir, f"run.json.{writer}.tmp"))
        victims.append(victim)
    assert "stopped by SIGINT" in handle.stop(FAST)
    for victim in victims:
        assert open(victim).read() == "precious\n"
    record_path = os.path.join(record.run_dir, "run.json")
    assert not os.path.islink(record_path) and load_run_record(record.run_dir).stop_signal == "SIGINT"


def test_a_planted_control_link_is_neither_written_nor_obeyed(tmp_path):
    record = launch_run([PYTHON, "-c", LOOP], root=str(tmp_path / "runs"), cwd=str(tmp_path), name="control")
    run_dir = record.run_dir
    try:
        wait_for(lambda: RunHandle(run_dir).alive, 30, "the run")
        with open(os.path.join(run_dir, "events.jsonl"), "a") as events:
            events.write(json.dumps({"event": "run_start", "control": True}) + "\n")
        stop_line = json.dumps({"id": "planted-1", "action": "stop"}) + "\n"
        victim = victim_file(tmp_path, "victim.jsonl", stop_line)
        os.symlink(victim, os.path.join(run_dir, "control.jsonl"))
        code, _, error = trainwatch("lr", run_dir, "x0.5")
        assert code == 2 and "control.jsonl is a symbolic link" in one_line(error), error
        with pytest.raises(ControlError, match="symbolic link"):
            append_command(run_dir, new_command("checkpoint"))  # the append itself refuses it too
        assert open(victim).read() == stop_line
        # The trainer's side: it reads commands only from a file it opened without following a link.
        log = RunLog(tmp_path / "trainer-events.jsonl")
        channel = ControlChannel(run_dir, log)
        assert channel.poll() == []
        assert "symbolic link" in open(tmp_path / "trainer-events.jsonl").read()
    finally:
        os.unlink(os.path.join(run_dir, "control.jsonl"))
        RunHandle(run_dir).stop(FAST)


def test_a_fifo_as_control_file_does_not_hang_the_trainer(tmp_path):
    os.mkfifo(tmp_path / "control.jsonl", 0o600)
    channel = ControlChannel(str(tmp_path), RunLog(tmp_path / "events.jsonl"))
    assert channel.poll() == []  # a FIFO's size is 0: nothing to read, and no open that waits
    with pytest.raises(ControlError):
        append_command(str(tmp_path), new_command("checkpoint"))


@needs_root
async def test_bare_trainwatch_follows_someone_elses_run_but_does_not_control_it(throwaway_users, tmp_path):
    from ui_helpers import make_app, settle

    other = throwaway_users()
    runs = tmp_path / "runs"
    run_dir = runs / "theirs-1"
    run_dir.mkdir(parents=True, mode=0o755)
    sleeper = start_sleeper(throwaway_users, other)  # "their trainer", alive
    write_record(str(run_dir), sleeper.pid, process_start_ticks(sleeper.pid), owner=other.uid)
    (run_dir / "events.jsonl").write_text('{"event": "metrics", "step": 1, "epoch": 1, "metrics": {"loss": 0.5}}\n')
    os.chown(run_dir, other.uid, other.gid)
    app = make_app(None, runs_root=str(runs))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.target == str(run_dir) and app.run_handle is None  # read, not controlled
        await pilot.press("x")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any("refusing to act on" in m and "belongs to another user" in m for m in messages), messages
        assert any("only being read" in m for m in messages), messages
    assert sleeper.poll() is None


def test_a_hostile_record_is_refused_with_one_line(tmp_path):
    from tui.runs.run_record import NotOurRun, parse_run_record

    base = {"trainwatch": 1, "name": "x", "command": ["true"], "cwd": "/"}
    for field, value in [("pid", "123"), ("pid", 1.5), ("pid", [123]), ("pid", 10**20), ("pid", True),
                         ("pid", -1), ("pid_start_ticks", "5"), ("exit_code", 10**400), ("started", 10**400),
                         ("env", {"A": 1}), ("command", [1]), ("name", None)]:
        with pytest.raises(NotOurRun, match=f"bad run record: {field} must be"):
            parse_run_record(json.dumps({**base, field: value}), str(tmp_path), "run.json")
    with pytest.raises(NotOurRun, match="nested too deep"):
        parse_run_record("[" * 100_000 + "]" * 100_000, str(tmp_path), "run.json")
    with pytest.raises(NotOurRun, match="unreadable run record"):
        parse_run_record('{"pid": ' + "9" * 5000 + "}", str(tmp_path), "run.json")


# A trainer that records one checkpoint through the event log, the way every integration does.
CHECKPOINTING_TRAINER = textwrap.dedent("""
    import os, time
    from trainers.runlog import RunLog
    run_dir = os.environ["TRAINWATCH_RUN_DIR"]
    os.makedirs(os.path.join(run_dir, "checkpoints"), exist_ok=True)
    path = os.path.join(run_dir, "checkpoints", "last.pt")
    with open(path, "wb") as file:
        file.write(b"weights")
    log = RunLog(os.path.join(run_dir, "events.jsonl"))
    log.checkpoint(path, step=10, epoch=1, tag="last")
    log.metrics(step=10, epoch=1, loss=0.5)
    while True:
        time.sleep(0.05)
""")


def test_a_group_member_cannot_plant_the_checkpoint_a_restart_resumes_from(throwaway_users):
    from tui.runs.presets import PresetError
    from tui.runs.restart import propose_restart

    group = throwaway_users.group()
    member = throwaway_users(group=group)
    project = f"/tmp/twsec-project-{secrets.token_hex(4)}"
    os.mkdir(project)
    try:
        shutil.chown(project, group=group)
        os.chmod(project, 0o2775)
        old_umask = os.umask(0o002)  # the lab's umask: files group-writable unless made otherwise
        try:
            record = launch_run([PYTHON, "-c", CHECKPOINTING_TRAINER, "--lr", "0.1"], root=os.path.join(project, "runs"),
                                cwd=REPO, name="victim")
        finally:
            os.umask(old_umask)
        run_dir, pid = record.run_dir, record.pid
        event_log, checkpoint = os.path.join(run_dir, "events.jsonl"), os.path.join(run_dir, "checkpoints", "last.pt")
        try:
            wait_for(lambda: os.path.exists(event_log) and "metrics" in open(event_log).read(), 30, "the checkpoint event",
                     run_dir=run_dir)
            # What the run writes is the user's alone, whatever the umask.
            for path in (event_log, checkpoint, os.path.join(run_dir, "stdout.log"), os.path.join(run_dir, "stderr.log")):
                assert stat.S_IMODE(os.stat(path).st_mode) == 0o644, (path, oct(os.stat(path).st_mode))
            forged_checkpoint = os.path.join(project, "forged.pt")
            forged_event = json.dumps({"event": "checkpoint", "time": 1, "path": forged_checkpoint, "tag": "last"})
            assert member.run("sh", "-c", f"echo '{forged_event}' >> {event_log}").returncode != 0
            assert propose_restart(run_dir, "lower-lr", "last").resume_path == checkpoint

            # A log left group-writable (as umask 002 made it before): the member appends a forged event.
            os.chmod(event_log, 0o664)
            assert member.run("sh", "-c", f"echo x > {forged_checkpoint} && echo '{forged_event}' >> {event_log}"
                              ).returncode == 0
            code, out, error = trainwatch("restart", run_dir, "--preset", "lower-lr", "--resume", "last", "--yes")
            assert code == 2 and "events.jsonl is writable by group or others" in one_line(error), (out, error)
            os.chmod(event_log, 0o644)
            with pytest.raises(PresetError, match="forged.pt belongs to another user"):
                propose_restart(run_dir, "lower-lr", "last")
            # The checkpoint itself left group-writable: rewritable in place, so refused too.
            with open(event_log, "a") as file:
                file.write(json.dumps({"event": "checkpoint", "time": 2, "path": checkpoint, "tag": "last"}) + "\n")
            os.chmod(checkpoint, 0o664)
            with pytest.raises(PresetError, match="last.pt is writable by group or others"):
                propose_restart(run_dir, "lower-lr", "last")
            assert RunHandle(run_dir).alive  # every refusal came before anything was stopped
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    finally:
        shutil.rmtree(project, ignore_errors=True)

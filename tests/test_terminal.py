"""The real program in a real terminal (tmux), while a separate process appends epochs to its log."""
from __future__ import annotations

import os
import shutil
import shlex
import subprocess
import sys
import textwrap
import time

import pytest

from tui.ssh.ssh_connection import SSH_COMMAND_ENV

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")
EPOCHS = 6

# One epoch every 1.5 s, each with loss values no other epoch has, so the screen shows which it is.
WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from trainers.runlog import RunLog
    log = RunLog(sys.argv[1])
    for epoch in range(1, int(sys.argv[3]) + 1):
        time.sleep(1.5)
        log.metrics(step=epoch * 100, epoch=epoch, loss=round(0.5 - epoch * 0.01 + 0.001234, 4),
                    val_loss=round(0.8 - epoch * 0.01 + 0.004321, 4))
    log.close()
""")


def loss_text(epoch: int) -> str:
    return f"{0.5 - epoch * 0.01 + 0.001234:.4f}"


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_tmux_shows_each_epoch_as_another_process_appends_it(tmp_path, request, where):
    """Locally, and as `trainwatch tail twtest:FILE` through the test sshd: the same screen."""
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    (tmp_path / "r").mkdir()
    log = tmp_path / "r" / "events.jsonl"  # a short name, so the header has room for the host
    log.write_text('{"event": "run_start", "time": 1, "config": {"epochs": 6}}\n'
                   '{"event": "metrics", "time": 1, "step": 0, "epoch": 0, "metrics": {"loss": 0.9, "val_loss": 1.1}}\n')
    session = f"trainwatch-test-{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    env_prefix = f"env XDG_CONFIG_HOME={tmp_path} TERM=xterm-256color"
    target = str(log)
    if where == "ssh":
        server = request.getfixturevalue("ssh_server")
        env_prefix += f" {SSH_COMMAND_ENV}={shlex.quote(server.ssh_command)}"
        target = f"twtest:{log}"
    subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                           f"{env_prefix} {TRAINWATCH} tail {target}; sleep 30"], check=True)
    writer = None
    try:
        screen = ""
        for _ in range(100):
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            if "epoch 0/6" in screen:
                break
            time.sleep(0.1)
        assert "epoch 0/6" in screen, screen
        if where == "ssh":
            assert "twtest (ssh connected)" in screen, screen
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), REPO, str(EPOCHS)])
        seen = {}
        deadline = time.monotonic() + EPOCHS * 1.5 + 15
        while len(seen) < EPOCHS and time.monotonic() < deadline:
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            for epoch in range(1, EPOCHS + 1):
                if epoch not in seen and f"epoch {epoch}/6" in screen and loss_text(epoch) in screen:
                    seen[epoch] = screen
            time.sleep(0.1)
        assert sorted(seen) == list(range(1, EPOCHS + 1)), screen
        assert "loss" in seen[EPOCHS] and "val" in seen[EPOCHS]
        subprocess.run(tmux + ["send-keys", "-t", session, "q"], check=True)
        time.sleep(1.5)
        assert writer.wait(timeout=30) == 0  # quitting the UI never touches the writer
        assert sum('"metrics"' in line for line in log.read_text().splitlines()) == EPOCHS + 1
        current = subprocess.run(tmux + ["list-panes", "-t", session, "-F", "#{pane_current_command}"],
                                 capture_output=True, text=True).stdout.strip()
        assert current == "sleep", f"trainwatch should have exited on q, the pane runs {current!r}"
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        subprocess.run(tmux + ["kill-server"], capture_output=True)


def _screen(tmux: list[str], session: str) -> str:
    return subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def _wait_screen(tmux: list[str], session: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = _screen(tmux, session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared:\n{screen}")


def test_a_launched_run_survives_its_terminal_and_trainwatch_reattaches_with_control(tmp_path):
    """`trainwatch run` in tmux; the tmux session is killed; the run keeps training; bare
    `trainwatch` in a new terminal re-attaches to it and stops it with x, y."""
    from tui.runs.run_control import RunHandle
    from tui.runs.run_listing import list_runs

    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    env_prefix = f"env XDG_CONFIG_HOME={tmp_path} TERM=xterm-256color"
    command = (f"{env_prefix} {TRAINWATCH} run --name survivor -- {sys.executable} -m trainers.ctc_reference "
               "--train_size 64 --val_size 32 --hidden 32 --epochs 500 --epoch_sleep 0.2")
    subprocess.run(tmux + ["new-session", "-d", "-s", "launch", "-x", "100", "-y", "30", "-c", str(tmp_path),
                           command], check=True)
    run_dir = None
    try:
        _wait_screen(tmux, "launch", "epoch 1/500", 90)  # the UI opened on the run and it trains
        run_dir = str(tmp_path / "runs" / "survivor-1")
        subprocess.run(tmux + ["kill-session", "-t", "launch"], check=True)  # the terminal goes away
        handle = RunHandle(run_dir)
        epochs_then = len(open(os.path.join(run_dir, "events.jsonl")).read().split('"metrics"'))
        time.sleep(3)
        assert handle.alive, "the run died with its terminal"
        assert len(open(os.path.join(run_dir, "events.jsonl")).read().split('"metrics"')) > epochs_then
        assert [entry.live for entry in list_runs(str(tmp_path / "runs"))] == [True]
        subprocess.run(tmux + ["new-session", "-d", "-s", "again", "-x", "100", "-y", "30", "-c", str(tmp_path),
                               f"{env_prefix} {TRAINWATCH}; sleep 30"], check=True)
        screen = _wait_screen(tmux, "again", "running", 30)
        assert "survivor-1" in screen
        subprocess.run(tmux + ["send-keys", "-t", "again", "x"], check=True)
        _wait_screen(tmux, "again", "y: yes", 10)
        subprocess.run(tmux + ["send-keys", "-t", "again", "y"], check=True)
        _wait_screen(tmux, "again", "stopped", 60)
        deadline = time.monotonic() + 20
        while handle.refresh().exit_code is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the trainer logs "stopped", then exits; the supervisor then records it
        assert not handle.alive and handle.record.exit_code == 0
        subprocess.run(tmux + ["send-keys", "-t", "again", "q"], check=True)
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
        if run_dir and RunHandle(run_dir).alive:
            RunHandle(run_dir).stop()

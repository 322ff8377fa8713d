"""The real program in a real terminal (tmux), while a separate process appends epochs to its log."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time

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


def test_tmux_shows_each_epoch_as_another_process_appends_it(tmp_path):
    assert shutil.which("tmux"), "tmux is needed (scripts/test.sh installs it)"
    log = tmp_path / "events.jsonl"
    log.write_text('{"event": "run_start", "time": 1, "config": {"epochs": 6}}\n'
                   '{"event": "metrics", "time": 1, "step": 0, "epoch": 0, "metrics": {"loss": 0.9, "val_loss": 1.1}}\n')
    session = f"trainwatch-test-{os.getpid()}"
    socket = str(tmp_path / "tmux.sock")
    tmux = ["tmux", "-S", socket]
    env_prefix = f"env XDG_CONFIG_HOME={tmp_path} TERM=xterm-256color"
    subprocess.run(tmux + ["new-session", "-d", "-s", session, "-x", "100", "-y", "30",
                           f"{env_prefix} {TRAINWATCH} tail {log}; sleep 30"], check=True)
    writer = None
    try:
        screen = ""
        for _ in range(100):
            screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout
            if "epoch 0/6" in screen:
                break
            time.sleep(0.1)
        assert "epoch 0/6" in screen, screen
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

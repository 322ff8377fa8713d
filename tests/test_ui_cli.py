"""`trainwatch tail` and bare `trainwatch` from the command line, and the headless/Textual split."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time

TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")


def run(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TRAINWATCH, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_tail_of_a_missing_file_is_one_clear_line(tmp_path):
    result = run("tail", str(tmp_path / "nope.log"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"trainwatch: {tmp_path / 'nope.log'}: no such file or directory"


def test_tail_of_a_folder_without_a_log_is_one_clear_line_as_check_says(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README").write_text("nothing to follow here\n")
    for verb in ("tail", "check"):
        result = run(verb, str(tmp_path / "notes"))
        assert result.returncode == 2, (verb, result.stderr)
        assert result.stderr.strip() == f"trainwatch: {tmp_path / 'notes'}: no training log found in this directory"


def test_bare_trainwatch_without_runs_says_what_to_do(tmp_path):
    result = run(cwd=str(tmp_path))
    assert result.returncode == 2
    assert "no runs under ./runs" in result.stderr and "trainwatch tail FILE" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_tail_refuses_a_broken_config(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,1\n")
    config = tmp_path / "bad.yaml"
    config.write_text("diagnosis:\n  nonsense: {a: 1}\n")
    result = run("tail", str(log), "--config", str(config))
    assert result.returncode == 2 and "unknown diagnosis rule 'nonsense'" in result.stderr


def test_data_logic_of_the_ui_imports_no_textual():
    """Readers, following, the live run and everything the widgets are handed stay headless."""
    code = ("import sys; import tui.follow.target_follower, tui.view.live_run, tui.view.run_overview, tui.view.metric_rows,"
            " tui.view.chart_data, tui.view.chart_plot, tui.model.decode_diff, tui.view.theme_files, tui.settings.user_config, tui.runs.run_listing;"
            "print([m for m in ('textual', 'torch', 'tensorflow') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


# `trainwatch tail` whose reader has a bug: the worker that follows the log raises.
FAILING_TAIL = """
import sys
import tui.follow.target_follower as target_follower

def batches(self):
    raise RuntimeError("disk on fire")
    yield

target_follower.TargetFollower.batches = batches
from tui.cli import main
sys.exit(main(["tail", sys.argv[1]]))
"""
ANSI_RE = re.compile(r"\x1b(\[[0-9;?<>=$]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[=>()#][0-9A-Za-z]?|[78DEHMc])")


def run_in_terminal(argv: list[str], timeout: float = 60.0, type_when: tuple[str, bytes] | None = None,
                    cwd: str | None = None) -> tuple[int, str]:
    """Run ``argv`` on a 100x30 pseudo-terminal (Textual needs one); its exit code and what it wrote.
    ``type_when``: (text, keys): the keys are typed once the text has been on screen."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary,
                               env={**os.environ, "TERM": "xterm-256color"}, start_new_session=True, cwd=cwd)
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([primary], [], [], 0.5)[0]:
                try:
                    chunk = os.read(primary, 65536)
                except OSError:  # EIO: the program ended and closed the terminal
                    break
                if not chunk:
                    break
                output += chunk
                if type_when and type_when[0] in ANSI_RE.sub("", output.decode("utf-8", "replace")):
                    time.sleep(0.5)
                    os.write(primary, type_when[1])
                    type_when = None
            elif process.poll() is not None:
                break
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    return code, ANSI_RE.sub("", output.decode("utf-8", "replace"))


def test_tail_whose_worker_raises_exits_1_with_one_line_after_the_screen_closes(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,1\n")
    code, screen = run_in_terminal([sys.executable, "-c", FAILING_TAIL, str(log)])
    lines = [line.strip() for line in screen.replace("\r", "\n").splitlines() if line.strip()]
    assert code == 1, screen
    assert lines[-1] == "trainwatch: reading the log failed: RuntimeError: disk on fire", lines[-5:]
    assert "Traceback" not in screen


def test_after_q_the_last_line_names_the_run_and_how_to_come_back(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss,val_loss\n" + "".join(f"{e},{1 / (e + 1):.4f},{1.2 / (e + 1):.4f}\n" for e in range(8)))
    code, screen = run_in_terminal([TRAINWATCH, "tail", str(log)], type_when=("quit", b"q"), cwd=str(tmp_path))
    lines = [line.strip() for line in screen.replace("\r", "\n").splitlines() if line.strip()]
    assert code == 0, screen[-500:]
    assert re.search(rf"trainwatch: left {re.escape(str(log))} \((live|idle)\): `trainwatch tail {re.escape(str(log))}` "
                        r"follows it again$", lines[-1]), lines[-3:]  # (the screen's text before it, escapes stripped)

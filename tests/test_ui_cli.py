"""`trainwatch tail` and bare `trainwatch` from the command line, and the headless/Textual split."""
from __future__ import annotations

import os
import subprocess
import sys

TRAINWATCH = os.path.join(os.path.dirname(sys.executable), "trainwatch")


def run(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([TRAINWATCH, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_tail_of_a_missing_file_is_one_clear_line(tmp_path):
    result = run("tail", str(tmp_path / "nope.log"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"trainwatch: {tmp_path / 'nope.log'}: no such file or directory"


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
    code = ("import sys; import tui.follow.target_follower, tui.live_run, tui.run_overview, tui.metric_rows,"
            " tui.chart_data, tui.chart_plot, tui.decode_diff, tui.theme_files, tui.user_config, tui.run_listing;"
            "print([m for m in ('textual', 'torch', 'tensorflow') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr

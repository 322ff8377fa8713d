"""The runs of another machine on the runs screen and in `trainwatch ls host:PATH`, through the
real sshd on 127.0.0.1 (tests/ssh_server.py, host alias twtest)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from test_snapshots import _runs_folder, until_runs_listed
from tui.app.screens.runs_screen import RunsScreen
from ui_helpers import make_app, wait_for

REMOTE_RUNS = "/tmp/trainwatch-test-remote-runs"  # a fixed path: the snapshot's title names it


@pytest.fixture
def remote_runs(tmp_path):
    from pathlib import Path

    shutil.rmtree(REMOTE_RUNS, ignore_errors=True)
    _runs_folder(Path(REMOTE_RUNS))
    yield REMOTE_RUNS
    shutil.rmtree(REMOTE_RUNS, ignore_errors=True)


def test_ls_lists_another_hosts_runs_over_ssh(over_ssh, remote_runs, tmp_path):
    (tmp_path / "runs").mkdir()
    result = subprocess.run([sys.executable, "-m", "tui", "ls", "--plain", f"twtest:{remote_runs}"],
                            capture_output=True, text=True, cwd=str(tmp_path), env=os.environ)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0] if not line.startswith("└") else line.split()[1]: line
            for line in result.stdout.splitlines()[1:]}
    assert set(rows) == {"twtest:ctc-1", "twtest:ctc-2", "twtest:msa", "twtest:broken-1"}, result.stdout
    assert "val_wer 90.8 @e55" in rows["twtest:ctc-1"] and "blank_collapse" in rows["twtest:ctc-1"]
    assert "crashed (3)" in rows["twtest:broken-1"]


def test_a_host_that_cannot_be_reached_is_one_row_and_the_others_are_still_listed(over_ssh, tmp_path):
    (tmp_path / "runs" / "here-1").mkdir(parents=True)
    (tmp_path / "runs" / "here-1" / "events.jsonl").write_text('{"event":"metrics","step":1,"metrics":{"loss":1}}\n')
    result = subprocess.run([sys.executable, "-m", "tui", "ls", "--plain", "twtest:/no/such/folder"],
                            capture_output=True, text=True, cwd=str(tmp_path), env=os.environ)
    assert result.returncode == 0, result.stderr
    assert "here-1" in result.stdout


async def test_the_runs_screen_shows_this_machines_and_another_hosts_runs(over_ssh, remote_runs, tmp_path,
                                                                          monkeypatch):
    _runs_folder(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    app = make_app(None, runs_root="runs", hosts=[f"twtest:{remote_runs}"])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 8, 30)
        hosts = sorted({row.host for row in app.screen.rows})
        assert hosts == ["gpu-box", "twtest"], hosts
        remote = next(row for row in app.screen.rows if row.host == "twtest" and row.name == "ctc-2")
        assert remote.parent and remote.metric == "val_accuracy" and remote.severity == "warning"
        table = app.screen.query_one("#runs-table")
        index = table.get_row_index(remote.path)
        lines = [" ".join(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]
        assert "└ twtest:ctc-2" in lines[index], lines  # under its parent, named with its host
        seed_log = next(row for row in app.screen.rows if row.host == "twtest" and row.name == "msa")
        table.move_cursor(row=table.get_row_index(seed_log.path))
        await pilot.press("enter")  # opened over ssh, as `trainwatch tail twtest:PATH` would
        await wait_for(pilot, lambda: app.target == seed_log.path and app.live is not None
                       and app.live.model.series_names(), 60)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), 10)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_runs_screen_with_another_host(snap_compare, over_ssh, remote_runs, tmp_path, monkeypatch, size):
    _runs_folder(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    app = make_app(None, runs_root="runs", hosts=[f"twtest:{remote_runs}"])

    async def run_before(pilot) -> None:
        await until_runs_listed(pilot, app, 8)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_the_hosts_in_config_yaml_are_listed_too(over_ssh, remote_runs, tmp_path):
    config = tmp_path / "xdg" / "trainwatch"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(f'hosts: ["twtest:{remote_runs}"]\n')
    (tmp_path / "runs").mkdir()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = subprocess.run([sys.executable, "-m", "tui", "ls", "--plain"], capture_output=True, text=True,
                            cwd=str(tmp_path), env=env)
    assert result.returncode == 0 and "twtest:msa" in result.stdout, result.stdout + result.stderr
    (config / "config.yaml").write_text("hosts: gpu1\n")  # not a list of host:PATH: one warning, this machine's runs
    result = subprocess.run([sys.executable, "-m", "tui", "ls", "--plain"], capture_output=True, text=True,
                            cwd=str(tmp_path), env=env)
    assert "'hosts' must be a list of host:PATH" in result.stderr and "twtest" not in result.stdout

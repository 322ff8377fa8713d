"""One broken run directory never hides the others: `trainwatch ls` and the run picker list it as
unreadable with a one-line reason (a malformed run.json, a run.json that is a directory, a link to
nothing, a link loop, a directory the user may not read), and `./runs` that is a file is one line."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import pytest

from run_helpers import another_user

from tui.app.screens.runs_screen import RunsScreen
from ui_helpers import make_app, wait_for

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METRICS = '{"event": "metrics", "time": 1, "step": 1, "epoch": 1, "metrics": {"loss": 0.5, "val_loss": 0.6}}\n'
RECORD = {"name": "x", "command": ["python", "train.py"], "cwd": "/", "run_dir": "/", "trainwatch": 1}


def good_run(root: str, name: str) -> None:
    os.makedirs(os.path.join(root, name))
    with open(os.path.join(root, name, "events.jsonl"), "w") as log:
        log.write(METRICS)


def broken_runs(root: str) -> dict[str, str]:
    """Every way a run directory can be broken; name -> what its reason must say."""
    os.makedirs(os.path.join(root, "bad-json"))
    with open(os.path.join(root, "bad-json", "run.json"), "w") as record:
        record.write('{"name": "bad", "command": [')
    with open(os.path.join(root, "bad-json", "events.jsonl"), "w") as log:
        log.write(METRICS)
    os.makedirs(os.path.join(root, "record-is-dir", "run.json"))
    with open(os.path.join(root, "record-is-dir", "events.jsonl"), "w") as log:
        log.write(METRICS)
    os.symlink("/nonexistent/run-7", os.path.join(root, "dangling"))
    os.symlink(os.path.join(root, "loop"), os.path.join(root, "loop"))
    return {"bad-json": "unreadable run record", "record-is-dir": "run.json", "dangling": "No such file",
            "loop": "symbolic link"}


def cli(*argv: str, cwd, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tui.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO, "HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd)},
                          timeout=120, stdin=subprocess.DEVNULL, **options)


def ls_rows(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0 and "Traceback" not in result.stderr, (result.stdout, result.stderr)
    return {line.split()[0]: line for line in result.stdout.splitlines()[1:]}


def test_ls_lists_each_broken_run_as_unreadable_and_every_other_run(tmp_path):
    root = str(tmp_path / "runs")
    good_run(root, "good-1")
    good_run(root, "good-2")
    expected = broken_runs(root)
    rows = ls_rows(cli("ls", cwd=tmp_path))
    assert set(rows) == {"good-1", "good-2", *expected}, rows
    for name in ("good-1", "good-2"):
        assert rows[name].split()[1] == "live", rows[name]
    for name, reason in expected.items():
        assert rows[name].split()[1] == "unreadable" and reason in rows[name], rows[name]


def run_as(user: str, argv: list[str], cwd: str) -> subprocess.CompletedProcess:
    """`trainwatch ARGV` as another user: forked from this interpreter, which that user could not
    start (the venv's python lives under root's home), then the real CLI's main."""
    account = pwd.getpwnam(user)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        code = 99
        try:
            os.dup2(out_write, 1)
            os.dup2(err_write, 2)
            os.setgroups([])
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)
            os.chdir(cwd)
            sys.stdout, sys.stderr = open(1, "w", closefd=False), open(2, "w", closefd=False)
            from tui.cli import main

            code = main(argv)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(out_write)
    os.close(err_write)
    with open(out_read) as out, open(err_read) as err:
        stdout, stderr = out.read(), err.read()
    _, status = os.waitpid(child, 0)
    return subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(status), stdout, stderr)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to create a second user")
def test_ls_by_another_user_names_the_run_directory_it_may_not_read():
    """A shared lab directory: one run is owner-only; another user's `ls` still lists the rest."""
    lab = tempfile.mkdtemp(prefix="tw-lab-")
    try:
        os.chmod(lab, 0o777)
        root = os.path.join(lab, "runs")
        good_run(root, "open-1")
        good_run(root, "private-1")
        for directory, mode in ((root, 0o755), (os.path.join(root, "open-1"), 0o755),
                                (os.path.join(root, "private-1"), 0o700)):
            os.chmod(directory, mode)
        for name in ("open-1", "private-1"):
            os.chmod(os.path.join(root, name, "events.jsonl"), 0o644)
        with another_user("twlist") as user:
            rows = ls_rows(run_as(user, ["ls"], lab))
        assert rows["open-1"].split()[1] == "live", rows
        assert rows["private-1"].split()[1] == "unreadable" and "Permission denied" in rows["private-1"], rows
    finally:
        shutil.rmtree(lab, ignore_errors=True)


def test_runs_that_is_a_file_is_one_line_for_ls_run_and_bare_trainwatch(tmp_path):
    (tmp_path / "runs").write_text("not a directory\n")
    for argv in (["ls"], [], ["run", "--detach", "--", "true"]):
        result = cli(*argv, cwd=tmp_path)
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (argv, result.stdout, result.stderr)
        assert "runs is not a directory" in lines[0], lines
    assert (tmp_path / "runs").read_text() == "not a directory\n"


def _runs_lines(app) -> list[str]:
    """The runs screen's rows as drawn: name, state, ..., and the detail of an unreadable one."""
    screen = app.screen
    assert isinstance(screen, RunsScreen), screen
    table = screen.query_one("#runs-table")
    return [" ".join(str(cell) for cell in table.get_row_at(index)) for index in range(table.row_count)]


async def test_the_runs_screen_lists_broken_runs_as_unreadable_and_opens_the_others(tmp_path):
    root = str(tmp_path / "runs")
    good_run(root, "good-1")
    good_run(root, "good-2")
    expected = broken_runs(root)
    app = make_app(None, runs_root=root, clock=time.time)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(_runs_lines(app)) == 6, timeout=10)
        lines = _runs_lines(app)
        assert sorted(line.split()[0] for line in lines) == sorted(["good-1", "good-2", *expected]), lines
        rows = {row.name: row for row in app.screen.rows}
        for name, reason in expected.items():
            assert rows[name].state == "unreadable" and reason in rows[name].state_detail, rows[name]
        broken_index = next(i for i, line in enumerate(lines) if line.split()[0] in expected)
        app.screen.query_one("#runs-table").move_cursor(row=broken_index)
        await pilot.press("enter")  # an unreadable run is listed, never opened
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen) and app.live is None
        good_index = next(i for i, line in enumerate(lines) if line.startswith("good-2"))
        app.screen.query_one("#runs-table").move_cursor(row=good_index)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.target is not None and app.target.endswith("good-2"), timeout=10)
        await pilot.press("escape")  # back to every run
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen), timeout=10)


async def test_with_only_broken_runs_the_runs_screen_says_why_and_escape_quits(tmp_path):
    root = str(tmp_path / "runs")
    expected = broken_runs(root)
    app = make_app(None, runs_root=root, clock=time.time)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(_runs_lines(app)) == len(expected),
                       timeout=10)
        assert sorted(line.split()[0] for line in _runs_lines(app)) == sorted(expected)
        assert all(line.split()[1] == "unreadable" for line in _runs_lines(app))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.return_code is not None or not app.is_running, timeout=5)


def test_a_record_that_says_nothing_wrong_is_still_a_run(tmp_path):
    """The other side: a valid run.json is a launched run, listed by its record, not unreadable."""
    root = str(tmp_path / "runs")
    good_run(root, "launched-1")
    with open(os.path.join(root, "launched-1", "run.json"), "w") as record:
        json.dump({**RECORD, "run_dir": os.path.join(root, "launched-1"), "exit_code": 0, "ended": 1.0}, record)
    rows = ls_rows(cli("ls", cwd=tmp_path))
    assert rows["launched-1"].split()[1] == "finished", rows

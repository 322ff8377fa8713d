"""The control keys on a launched run, driven through the real app (Pilot) against a real PyTorch
trainer: l changes the LR (pending, then applied), k checkpoints, r restarts with a preset and the
UI follows the child with the parent kept for comparison, x asks once and stops."""
from __future__ import annotations

import time

import pytest

from run_helpers import PYTHON, events
from tui.runs.launcher import launch_run
from tui.runs.run_control import RunHandle, StopTimeouts
from tui.app.screens.action_screens import ConfirmScreen, LrScreen, PresetScreen
from tui.app.widgets.run_header import RunHeader
from ui_helpers import make_app, wait_for

pytest.importorskip("torch")
CTC = [PYTHON, "-m", "trainers.ctc_reference", "--train_size", "64", "--val_size", "32", "--hidden", "32",
       "--epochs", "500", "--epoch_sleep", "0.2", "--dropout", "0.1", "--weight_decay", "1e-4"]


async def test_control_keys_act_on_a_launched_run(tmp_path):
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="keys")
    app = make_app(record.run_dir, clock=time.time, poll_seconds=0.2, stop_timeouts=StopTimeouts(30, 5, 5))
    child_dir = None
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.live is not None and app.live.model.controllable
                           and "lr" in app.live.model.current.series, timeout=120)
            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LrScreen))
            await pilot.press("a", "b", "c", "enter")  # refused in the screen, which stays open
            await pilot.pause()
            assert isinstance(app.screen, LrScreen)
            for _ in range(3):
                await pilot.press("backspace")
            await pilot.press("x", "0", ".", "5", "enter")
            await wait_for(pilot, lambda: not isinstance(app.screen, LrScreen))
            # Pending (in the header) until acknowledged; the trainer may already have answered.
            await wait_for(pilot, lambda: list(app.pending.values()) == ["LR x0.5"]
                           or any(a.action == "set_lr" for a in app.live.model.acks), timeout=30)
            await wait_for(pilot, lambda: not app.pending, timeout=60)
            assert any(a.action == "set_lr" and a.applied for a in app.live.model.acks)
            await wait_for(pilot, lambda: app.live.model.current.series["lr"].last == pytest.approx(0.0015), 30)
            lr_chart = app.query_one("#chart-lr")
            # The change made here is the user's mark on the LR chart, not a schedule step.
            await wait_for(pilot, lambda: len(lr_chart.chart.user_lr_changes) == 1 and not lr_chart.chart.lr_changes, 10)
            assert "┃ you" in str(lr_chart.border_subtitle)
            await pilot.press("k")
            await wait_for(pilot, lambda: any(a.action == "checkpoint" for a in app.live.model.acks), timeout=60)
            await pilot.press("r")
            await wait_for(pilot, lambda: isinstance(app.screen, PresetScreen))
            options = app.screen.query_one("#preset-list")
            options.highlighted = sorted(app.screen.presets).index("regularize")
            await pilot.press("l")  # resume from the last checkpoint
            diff = app.screen.query_one("#preset-diff")
            # The dialog says what the checkpoint holds, by the metric the findings speak of.
            await wait_for(pilot, lambda: "resume: the last checkpoint, epoch" in str(diff.content), timeout=30)
            assert "val_" in str(diff.content).split("resume: the last checkpoint, epoch")[1].splitlines()[0]
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.parent_model is not None and app.target != record.run_dir, timeout=120)
            child_dir = app.target
            assert RunHandle(child_dir).record.parent == record.run_dir
            assert not RunHandle(record.run_dir).alive  # the parent was stopped first
            await wait_for(pilot, lambda: events(child_dir, "metrics"), timeout=120)
            loss_chart = app.query_one("#chart-loss")
            await wait_for(pilot, lambda: any(line.context for line in loss_chart.chart.lines), timeout=30)
            followed_parent = [line.ys for line in loss_chart.chart.lines if line.context]
            await wait_for(pilot, lambda: app.run_handle is not None and app.run_handle.controllable, timeout=30)
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")  # any other key cancels
            await pilot.pause()
            assert RunHandle(child_dir).alive
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await wait_for(pilot, lambda: RunHandle(child_dir).refresh().exit_code is not None, timeout=60)
            assert events(child_dir, "status")[-1]["state"] == "stopped"
        # Started later on the child alone, the UI draws the parent the same as when it followed the restart.
        again = make_app(child_dir, poll_seconds=0.2)
        async with again.run_test(size=(100, 30)) as pilot:
            loss_chart = again.query_one("#chart-loss")
            await wait_for(pilot, lambda: loss_chart.chart is not None
                           and any(line.context for line in loss_chart.chart.lines), timeout=30)
            assert [line.ys for line in loss_chart.chart.lines if line.context] == followed_parent
            assert "faint: parent" in str(loss_chart.border_subtitle)
    finally:
        for run_dir in filter(None, (record.run_dir, child_dir)):
            if RunHandle(run_dir).alive:
                RunHandle(run_dir).stop()


async def test_control_keys_act_on_a_remote_run_over_ssh(over_ssh, tmp_path):
    """The same keys on `trainwatch tail twtest:RUN_DIR`: everything goes through the real sshd."""
    record = launch_run(CTC, root=str(tmp_path / "runs"), cwd=str(tmp_path), name="far")
    app = make_app(f"twtest:{record.run_dir}", clock=time.time, stop_timeouts=StopTimeouts(30, 5, 5))
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: app.live is not None and app.live.connection == "connected"
                           and app.run_handle is not None and app.live.model.controllable
                           and "lr" in app.live.model.current.series, timeout=120)
            header = app.query_one(RunHeader)
            assert header.overview.host == "twtest" and header.overview.name == "far-1"
            assert "(ssh connected)" in header.render().plain
            assert app.run_handle.remote
            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, LrScreen), timeout=20)
            await pilot.press("x", "0", ".", "5", "enter")
            await wait_for(pilot, lambda: any(a.action == "set_lr" and a.applied for a in app.live.model.acks)
                           and not app.pending, timeout=60)
            await pilot.press("r")  # a restart launches a process: refused over ssh, with what to run there
            await wait_for(pilot, lambda: any("over ssh" in n.message for n in app._notifications), timeout=10)
            assert not isinstance(app.screen, PresetScreen)
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=20)
            await pilot.press("y")
            await wait_for(pilot, lambda: app.live.model.status is not None
                           and app.live.model.status.state == "stopped", timeout=60)
            await wait_for(pilot, lambda: RunHandle(record.run_dir).refresh().exit_code is not None, timeout=30)
            assert RunHandle(record.run_dir).record.exit_code == 0
    finally:
        if RunHandle(record.run_dir).alive:
            RunHandle(record.run_dir).stop()

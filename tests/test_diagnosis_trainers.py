"""Findings on real training processes, and a fix that fits each cause: the CTC reference trainer
blown up from the start (divergence, lower-lr from scratch), with an LR far too small (no_learning,
higher-lr, and the restart learns), the demo's overfitting (regularize, which applies to its
command), and a Keras run that learns and then overfits (overfitting, never no_learning)."""
from __future__ import annotations

import pytest

from run_helpers import PYTHON, wait_for
from tui.commands.check_report import diagnose_target
from tui.diagnosis.engine import DiagnosisEngine
from tui.follow.target_follower import TargetFollower
from tui.runs.launcher import launch_run
from tui.runs.presets import get_preset, plan_restart
from tui.runs.restart import propose_restart, restart_run
from tui.runs.run_control import RunHandle
from tui.commands.run_commands import DEMO_ARGS
from tui.model.run_model import RunModel

CTC = [PYTHON, "-m", "trainers.ctc_reference", "--train_size", "48", "--val_size", "32", "--batch_size", "16",
       "--hidden", "128", "--decodes", "2"]


def finished(record) -> dict:
    """Wait for a launched run to end; its findings by id."""
    wait_for(lambda: RunHandle(record.run_dir).refresh().exit_code is not None, 400, "the run to end", record.run_dir)
    _, findings = diagnose_target(record.run_dir)
    return {finding.id: finding for finding in findings}


def applies(record, preset: str) -> bool:
    plan_restart(record.command, record.cwd, get_preset(preset))  # raises PresetError when it does not
    return True


def test_a_blow_up_from_the_start_is_divergence_with_lower_lr_from_scratch(tmp_path):
    pytest.importorskip("torch")
    record = launch_run(CTC + ["--lr", "50", "--clip", "0", "--epochs", "6"], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path), name="blowup")
    found = finished(record)
    divergence = found["divergence"]
    assert divergence.preset == "lower-lr" and divergence.resume == "none", divergence
    assert "from scratch" in divergence.action and "without falling first" in divergence.evidence
    assert applies(record, "lower-lr")
    # What the blow-up explains carries its fix and says so.
    for symptom in (f for f in found.values() if f.explained_by == "divergence"):
        assert symptom.preset == "lower-lr" and "after divergence" in symptom.evidence


def test_an_lr_far_too_small_is_no_learning_with_higher_lr_and_the_restart_learns(tmp_path):
    pytest.importorskip("torch")
    record = launch_run(CTC + ["--lr", "5e-4", "--warmup", "0", "--epochs", "12"], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path), name="tiny-lr")
    found = finished(record)
    no_learning = found["no_learning"]
    assert no_learning.preset == "higher-lr" and "LR far too small" in no_learning.evidence, no_learning
    assert "divergence" not in found
    proposal = propose_restart(record.run_dir, "higher-lr")
    assert {"--lr: 5e-4 -> 0.0025", "--warmup: 0 -> 2"} <= set(proposal.plan.changes), proposal.plan.changes
    child = restart_run(proposal)
    child_found = finished(child)
    assert "no_learning" not in child_found, [(f.id, f.evidence) for f in child_found.values()]
    parent_model, _ = diagnose_target(record.run_dir)
    child_model, _ = diagnose_target(child.run_dir)
    assert parent_model.current.series["val_wer"].values[-1] == 100.0
    assert child_model.current.series["val_wer"].values[-1] < 90.0  # it learns


def test_the_demos_overfitting_suggests_regularize_which_applies(tmp_path):
    pytest.importorskip("torch")
    record = launch_run([PYTHON, "-m", "trainers.ctc_reference", *DEMO_ARGS[:-4], "--epochs", "40"],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name="demo")
    follower, model, engine = TargetFollower(record.run_dir, 0.2), RunModel(), DiagnosisEngine()
    try:
        def overfitting():
            model.apply(follower.read_once().records)
            return next((f for f in engine.update(model) if f.id == "overfitting"), None)
        finding = wait_for(overfitting, 900, "the overfitting finding", record.run_dir)  # a loaded CPU: 30 s an epoch
    finally:
        for file_follower in follower.followers:
            file_follower.close()
        RunHandle(record.run_dir).stop()
    assert finding.preset == "regularize" and "'regularize'" in finding.action
    assert applies(record, "regularize")
    # Every preset the demo's findings can suggest applies to its command (it carries --lr).
    for preset in ("lower-lr", "higher-lr", "gentle-finetune", "regularize"):
        assert applies(record, preset)


def test_a_keras_run_that_learns_then_overfits_is_overfitting_not_no_learning(tmp_path):
    pytest.importorskip("tensorflow")
    record = launch_run([PYTHON, "-m", "trainers.keras_reference", "--train_size", "200", "--val_size", "500",
                         "--dropout", "0", "--weight_decay", "1e-4", "--hidden", "512", "--epochs", "20"],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path), name="keras-overfit")
    found = finished(record)
    assert "overfitting" in found and "no_learning" not in found, [(f.id, f.evidence) for f in found.values()]
    assert found["overfitting"].preset == "regularize" and applies(record, "regularize")


async def test_the_restart_key_offers_the_causes_whole_fix_lower_lr_from_scratch(tmp_path):
    """r on a run that blew up from the start opens the presets on lower-lr resuming from none: a
    checkpoint of blown-up weights is no place to resume from."""
    pytest.importorskip("torch")
    from tui.app.screens.action_screens import PresetScreen
    from ui_helpers import make_app, settle, wait_for as wait_in_app

    record = launch_run(CTC + ["--lr", "50", "--clip", "0", "--epochs", "6"], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path), name="blowup-keys")
    finished(record)
    app = make_app(record.run_dir, poll_seconds=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await wait_in_app(pilot, lambda: app.live is not None and any(f.id == "divergence" for f in app.live.findings))
        await pilot.press("r")
        await wait_in_app(pilot, lambda: isinstance(app.screen, PresetScreen))
        screen = app.screen
        assert (screen.chosen, screen.resume) == ("lower-lr", "none")
        # The plan is made in a worker (it reads run.json and the event log): shown once it is.
        await wait_in_app(pilot, lambda: "runs:" in str(screen.query_one("#preset-diff").render()), timeout=20)
        shown = str(screen.query_one("#preset-diff").render())
        assert "--lr" in shown and "checkpoint" not in shown, shown
        await pilot.press("escape")

"""Real training processes launched through `trainwatch run`'s launcher: the PyTorch CTC and Keras
reference trainers and the Lightning and Hugging Face callbacks each take an LR change (acknowledged
and visible in the logged LR series), checkpoint on request, stop gracefully leaving a loadable
checkpoint and a recorded exit status, and the reference trainers restart with a preset whose flag
and config changes reach the new process."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from run_helpers import PYTHON, events, exercise_control, wait_for
from tui.runs.launcher import launch_run
from tui.runs.restart import propose_restart, restart_run

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer_scripts")


def test_torch_ctc_trainer_is_controlled_and_restarted_with_flag_and_config_changes(tmp_path):
    torch = pytest.importorskip("torch")
    config = tmp_path / "ctc.yaml"
    config.write_text("hidden: 32\ntrain_size: 64\nval_size: 32\nbatch_size: 16\nepochs: 400\n")
    presets = Path(os.environ["XDG_CONFIG_HOME"]) / "trainwatch" / "presets"  # a tmp dir (conftest)
    presets.mkdir(parents=True, exist_ok=True)
    (presets / "reg-and-batch.yaml").write_text(
        "description: test preset\nchanges:\n  dropout: {set: 0.3}\n  batch_size: {scale: 2, integer: true}\n"
        "resume: last\n")
    record = launch_run([PYTHON, "-m", "trainers.ctc_reference", "--config", str(config), "--lr", "0.003",
                         "--dropout", "0.1", "--weight_decay", "1e-4", "--epoch_sleep", "0.1"],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path))
    parent_dir = record.run_dir
    exercise_control(parent_dir, ".pt")
    last = os.path.join(parent_dir, "checkpoints", "last.pt")
    saved = torch.load(last, weights_only=False)
    assert saved["state"]["step"] > 0 and "model" in saved

    proposal = propose_restart(parent_dir, "reg-and-batch", "last")
    assert "--dropout: 0.1 -> 0.3" in proposal.plan.changes
    assert "ctc.yaml: batch_size: 16 -> 32" in proposal.plan.changes
    child = restart_run(proposal)
    assert child.parent == parent_dir and child.preset == "reg-and-batch" and child.resume_from == last
    assert os.path.dirname(child.run_dir) == os.path.dirname(parent_dir) and child.run_dir != parent_dir
    start = wait_for(lambda: events(child.run_dir, "run_start"), 120, "the child's run_start", child.run_dir)[0]
    assert start["config"]["dropout"] == 0.3 and start["config"]["batch_size"] == 32  # flag and config reached it
    assert start["resumed_from"] == last and start["start_step"] == saved["state"]["step"]
    assert open(config).read().count("batch_size: 16") == 1  # the user's own config is untouched
    wait_for(lambda: events(child.run_dir, "metrics"), 120, "the child's metrics", child.run_dir)
    from tui.runs.run_control import RunHandle

    RunHandle(child.run_dir).stop()


def test_keras_trainer_is_controlled_and_restarted_with_regularize(tmp_path):
    pytest.importorskip("tensorflow")
    record = launch_run([PYTHON, "-m", "trainers.keras_reference", "--epochs", "400", "--train_size", "512",
                         "--val_size", "128", "--dropout", "0.1", "--weight_decay", "1e-4", "--batch_sleep", "0.01"],
                        root=str(tmp_path / "runs"), cwd=str(tmp_path))
    exercise_control(record.run_dir, ".keras")
    import keras

    model = keras.models.load_model(os.path.join(record.run_dir, "checkpoints", "last.keras"))
    assert model.count_params() > 0
    assert os.path.getsize(os.path.join(record.run_dir, "training_log.csv")) > 0  # Keras's own CSVLogger too
    child = restart_run(propose_restart(record.run_dir, "regularize", "best"))
    start = wait_for(lambda: events(child.run_dir, "run_start"), 180, "the child's run_start", child.run_dir)[0]
    assert start["config"]["dropout"] == 0.5 and start["config"]["weight_decay"] == pytest.approx(1e-3)
    assert start["resumed_from"].endswith("best.keras")
    wait_for(lambda: events(child.run_dir, "metrics"), 180, "the child's metrics", child.run_dir)
    from tui.runs.run_control import RunHandle

    RunHandle(child.run_dir).stop()


def test_lightning_callback_obeys_the_control_channel(tmp_path):
    pytest.importorskip("lightning")
    record = launch_run([PYTHON, os.path.join(SCRIPTS, "lightning_tiny.py")], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path))
    exercise_control(record.run_dir, ".ckpt")


def test_hugging_face_callback_obeys_the_control_channel(tmp_path):
    pytest.importorskip("transformers")
    record = launch_run([PYTHON, os.path.join(SCRIPTS, "hf_tiny.py"), "{run_dir}/hf"], root=str(tmp_path / "runs"),
                        cwd=str(tmp_path), env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    exercise_control(record.run_dir, "checkpoint-")  # the Trainer's own folder


@pytest.mark.parametrize("place", ["first", "last"])
def test_keras_logs_the_lr_each_epoch_trained_with_and_keeps_the_best_by_its_direction(tmp_path, place):
    """ReduceLROnPlateau cuts the LR after every epoch; wherever the callback sits in the list, the
    LR logged for an epoch is the one its batches ran with, and best.keras follows val_accuracy up."""
    import json
    import subprocess

    truth = tmp_path / "trained_with.json"
    run_dir = tmp_path / "run"
    subprocess.run([PYTHON, os.path.join(SCRIPTS, "keras_plateau.py"), place, str(truth)], check=True, timeout=300,
                   env={**os.environ, "TRAINWATCH_RUN_DIR": str(run_dir)}, cwd=str(tmp_path))
    trained = {int(epoch): rates for epoch, rates in json.loads(truth.read_text()).items()}
    logged = {event["epoch"]: event["metrics"] for event in events(str(run_dir), "metrics")}
    assert sorted(logged) == sorted(trained) == [1, 2, 3, 4, 5, 6]
    assert len({rates[0] for rates in trained.values()}) >= 4  # the plateau callback really cut it
    for epoch, rates in trained.items():
        assert rates == [pytest.approx(logged[epoch]["lr"])], (epoch, rates, logged[epoch]["lr"])
    best = [event["epoch"] for event in events(str(run_dir), "checkpoint") if event["tag"] == "best"]
    accuracies = [logged[epoch]["val_accuracy"] for epoch in sorted(logged)]
    record_epochs = [epoch for epoch, value in zip(sorted(logged), accuracies)
                     if value > max(accuracies[:epoch - 1], default=-1.0)]
    assert best == record_epochs, (best, accuracies)


def test_hugging_face_lr_points_checkpoints_and_the_closing_average(tmp_path):
    """An LR change at a logging step leaves no stale point; a manual checkpoint that
    save_total_limit deletes later is not offered for resume; the closing train_loss average is no
    point of the train loss."""
    pytest.importorskip("transformers")
    from tui.runs.restart import recorded_checkpoint
    from tui.runs.run_control import RunHandle

    record = launch_run([PYTHON, os.path.join(SCRIPTS, "hf_tiny.py"), "{run_dir}/hf", "--save_steps", "4",
                         "--save_total_limit", "1"], root=str(tmp_path / "runs"), cwd=str(tmp_path),
                        env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    run_dir = record.run_dir
    handle = RunHandle(run_dir)
    wait_for(lambda: events(run_dir, "metrics"), 240, "the first metrics", run_dir)
    changes = []
    for _ in range(3):  # changes land on logging steps too (every 5th)
        command_id, _ = handle.set_lr("x0.5")
        changes.append(wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "the LR ack", run_dir))
    command_id = handle.checkpoint()
    manual = wait_for(lambda: handle.wait_for_ack(command_id, 0.1), 120, "the checkpoint ack", run_dir)["detail"]["path"]
    wait_for(lambda: not os.path.exists(manual), 120, "save_total_limit to delete the manual checkpoint", run_dir)
    assert recorded_checkpoint(run_dir, "last") is None  # a deleted folder is no resume point
    assert "gracefully" in handle.stop()
    assert os.path.isdir(recorded_checkpoint(run_dir, "last"))  # the stop's own checkpoint
    lr_points = [(event["step"], event["metrics"]["lr"]) for event in events(run_dir, "metrics")
                 if "lr" in event["metrics"]]
    for ack in changes:
        step, old = ack["detail"]["step"], ack["detail"]["previous_lr"]
        later = [lr for at, lr in lr_points if at >= step]
        assert later and all(lr <= ack["detail"]["lr"] * 1.0001 for lr in later), (ack, lr_points)
        assert old not in later
    assert not any("train_loss" in event["metrics"] for event in events(run_dir, "metrics"))


def test_lightning_logs_the_lr_each_epoch_trained_with(tmp_path):
    """A per-step schedule that halves the LR at each epoch boundary: the LR logged for an epoch is
    the one its batches trained with, not the next epoch's that the optimizer holds at its end."""
    pytest.importorskip("lightning")
    import json
    import subprocess

    truth, run_dir = tmp_path / "trained_with.json", tmp_path / "run"
    subprocess.run([PYTHON, os.path.join(SCRIPTS, "lightning_lr.py"), str(truth)], check=True, timeout=300,
                   env={**os.environ, "TRAINWATCH_RUN_DIR": str(run_dir)}, cwd=str(tmp_path), capture_output=True)
    trained = {int(epoch): rates for epoch, rates in json.loads(truth.read_text()).items()}
    logged = {event["epoch"]: event["metrics"]["lr"] for event in events(str(run_dir), "metrics")}
    assert trained == {epoch: [pytest.approx(0.1 * 0.5 ** (epoch - 1))] for epoch in (1, 2, 3, 4)}, trained
    assert logged == {epoch: pytest.approx(rates[0]) for epoch, rates in trained.items()}, logged


def test_tail_of_a_hugging_face_output_dir_follows_the_newest_checkpoint(tmp_path):
    """The Trainer saves checkpoint-N folders and, with save_total_limit, deletes the old ones: the
    output directory is followed from the newest trainer_state.json, whole, with a notice."""
    pytest.importorskip("transformers")
    import json
    import subprocess
    import time

    from tui.follow.target_follower import TargetFollower
    from tui.model.run_model import RunModel

    output = tmp_path / "hf"
    trainer = subprocess.Popen([PYTHON, os.path.join(SCRIPTS, "hf_tiny.py"), str(output), "--epochs", "8",
                                "--save_steps", "8", "--save_total_limit", "1"], cwd=str(tmp_path),
                               env={**os.environ, "TRAINWATCH_RUN_DIR": str(tmp_path / "run"), "HF_HUB_OFFLINE": "1",
                                    "TRANSFORMERS_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: list(output.glob("checkpoint-*/trainer_state.json")), 240, "a first checkpoint")
        follower = TargetFollower(str(output))
        model, notices = RunModel(), []
        while trainer.poll() is None:
            batch = follower.read_once()
            model.apply(batch.records)
            notices += batch.notices
            time.sleep(0.3)
        time.sleep(2.5)
        batch = follower.read_once()
        model.apply(batch.records)
        notices += batch.notices
    finally:
        trainer.kill()
        trainer.wait()
    (last,) = output.glob("checkpoint-*/trainer_state.json")  # save_total_limit 1
    assert follower.log_paths == [str(last)], (follower.log_paths, last)
    assert any("newest checkpoint; following it" in notice for notice in notices), notices
    assert not any("deleted" in notice for notice in notices), notices
    history = json.loads(last.read_text())["log_history"]
    assert len(model.segments[0].series["loss"]) == sum(1 for entry in history if "loss" in entry)


def test_best_is_the_checkpoint_the_main_validation_metric_rates_best(tmp_path):
    """The trainer tagged best by val_loss; the findings speak of val_wer: "best" resumes from the
    kept checkpoint where val_wer was best, and the dialog says what each holds."""
    import json

    from tui.follow.whole_run import read_whole_run
    from tui.runs.restart import chosen_checkpoint
    from tui.view.checkpoint_choice import MainMetricAtCheckpoints

    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    events = []
    for epoch, (wer, loss) in enumerate([(50, 2.0), (40, 1.5), (35, 1.2), (38, 1.1), (41, 1.0), (45, 0.9)], 1):
        events.append({"event": "metrics", "time": epoch, "step": epoch * 10, "epoch": epoch,
                       "metrics": {"loss": loss, "val_loss": loss + 0.1, "val_wer": wer}})
        events.append({"event": "checkpoint", "time": epoch, "path": "checkpoints/last.pt", "step": epoch * 10,
                       "epoch": epoch, "tag": "last"})
        events.append({"event": "checkpoint", "time": epoch, "path": "checkpoints/best.pt", "step": epoch * 10,
                       "epoch": epoch, "tag": "best"})  # by val_loss, which kept falling
        if epoch == 3:
            events.append({"event": "checkpoint", "time": epoch, "path": "checkpoints/manual.pt", "step": 30,
                           "epoch": 3, "tag": "manual"})
    (run_dir / "events.jsonl").write_text("".join(json.dumps(event) + "\n" for event in events))
    for name in ("last.pt", "best.pt", "manual.pt"):
        (run_dir / "checkpoints" / name).write_bytes(b"weights")
    metric = MainMetricAtCheckpoints(read_whole_run(str(run_dir)))
    assert metric.curve.name == "val_wer"
    best = chosen_checkpoint(str(run_dir), "best", metric.judge)
    assert best.path.endswith("manual.pt") and metric.describe(best) == "epoch 3: val_wer 35"
    assert chosen_checkpoint(str(run_dir), "best").path.endswith("best.pt")  # without a judge: the trainer's tag
    last = chosen_checkpoint(str(run_dir), "last", metric.judge)
    assert last.path.endswith("best.pt") and metric.describe(last) == "epoch 6: val_wer 45"  # the newest save

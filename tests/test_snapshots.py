"""Snapshots of the main view in every shipped theme, at 100x30 and 80x24, deterministic."""
from __future__ import annotations

import os

import pytest

from conftest import seed_path
from ui_helpers import FIXED_NOW, frozen_copy, make_app, settle
from tui.view.theme_files import load_theme_specs

SHIPPED_THEMES = sorted(spec.name for spec in load_theme_specs()[0])


def test_three_themes_ship():
    assert {"trainwatch-dark", "trainwatch-light", "trainwatch-high-contrast"} <= set(SHIPPED_THEMES)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
@pytest.mark.parametrize("theme", SHIPPED_THEMES)
def test_main_view(snap_compare, tmp_path, theme, size):
    folder = tmp_path / "seed003_ctc_blank"
    folder.mkdir()
    app = make_app(frozen_copy(seed_path("seed003_ctc_blank"), folder), theme=theme)

    async def run_before(pilot) -> None:
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_main_view_with_output_panel(snap_compare, tmp_path):
    folder = tmp_path / "seed003_ctc_blank"
    folder.mkdir()
    app = make_app(frozen_copy(seed_path("seed003_ctc_blank"), folder))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("o")

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


SIZES = [(100, 30), (80, 24)]
SIZE_IDS = ["100x30", "80x24"]


def _detectron2_style_log(folder) -> str:
    """A detectron2 metrics.json: long names sharing prefixes, an LR warm-up, no validation."""
    import json

    log = folder / "metrics.json"
    names = ("fast_rcnn/cls_accuracy", "fast_rcnn/fg_cls_accuracy", "fast_rcnn/false_negative", "loss_box_reg",
             "loss_cls", "loss_rpn_cls", "loss_rpn_loc", "total_loss")
    lines = []
    for index in range(60):
        step = index * 20 + 19
        row = {"iteration": step, "lr": 2.5e-4 * min(1.0, (step + 1) / 400), "time": 0.31, "data_time": 0.01}
        for rank, name in enumerate(names):
            falling = 1.0 / (1 + index / (5 + rank))
            row[name] = round(1 - 0.7 * falling if "accuracy" in name else falling * (1 + rank / 4), 4)
        lines.append(json.dumps(row))
    log.write_text("\n".join(lines) + "\n")
    os.utime(log, (FIXED_NOW - 300, FIXED_NOW - 300))
    return str(log)


def _live_run_log(folder) -> str:
    """A run trainwatch's event log is still being written: a user LR change, a checkpoint, decodes."""
    import json

    log = folder / "events.jsonl"
    start = FIXED_NOW - 600
    events = [{"event": "run_start", "time": start, "resumed_from": None, "start_epoch": 0, "start_step": 0,
               "dataset_sizes": {"val": 512}, "config": {"lr": 0.001, "epochs": 40}, "control": True}]
    for epoch in range(1, 16):
        lr = 0.001 if epoch <= 9 else 0.0003
        events.append({"event": "metrics", "time": start + 30 * epoch, "step": epoch * 100, "epoch": epoch,
                       "metrics": {"loss": round(2.0 / epoch ** 0.5, 4), "val_loss": round(2.1 / epoch ** 0.4, 4),
                                   "val_wer": round(90 / epoch ** 0.3, 2), "lr": lr}})
        if epoch == 9:
            events.append({"event": "ack", "time": start + 30 * epoch + 1, "command_id": "c1", "action": "set_lr",
                           "applied": True, "detail": {"lr": 0.0003, "previous_lr": 0.001, "step": 900, "epoch": 9},
                           "message": "lr 0.001 -> 0.0003"})
        if epoch % 5 == 0:
            events.append({"event": "checkpoint", "time": start + 30 * epoch + 2, "path": f"ckpt/e{epoch}.pt",
                           "step": epoch * 100, "epoch": epoch, "tag": "last"})
    for sample, (reference, hypothesis) in enumerate([("the cat sat on the mat", "the cat sat on mat"),
                                                      ("a quick brown fox", "a quick brown fox")]):
        events.append({"event": "decode", "time": start + 451, "step": 1500, "epoch": 15, "reference": reference,
                       "hypothesis": hypothesis, "sample": sample})
    log.write_text("".join(json.dumps(event) + "\n" for event in events))
    os.utime(log, (FIXED_NOW - 2, FIXED_NOW - 2))
    return str(log)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("make_log", [_detectron2_style_log, _live_run_log], ids=["long_metric_names", "live_run"])
def test_log(snap_compare, tmp_path, make_log, size):
    folder = tmp_path / "exp-1"  # the header names the log's folder: the same in every run of the test
    folder.mkdir()
    app = make_app(make_log(folder))

    async def run_before(pilot) -> None:
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def until_runs_listed(pilot, app, count: int) -> None:
    """Until the runs screen shows ``count`` runs (its first refresh reads every log, in a worker)."""
    from tui.app.screens.runs_screen import RunsScreen

    for _ in range(400):
        if isinstance(app.screen, RunsScreen) and len(app.screen.rows) == count:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_five_findings_with_the_third_selected(snap_compare, tmp_path, size):
    folder = tmp_path / "seed004_resume_collapse"
    folder.mkdir()
    app = make_app(frozen_copy(seed_path("seed004_resume_collapse"), folder))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        assert len(app.live.findings) == 5
        await pilot.press("n", "n")

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def _runs_folder(root) -> str:
    """Four runs: a launched parent and its restart (a tree), a copied seed log, a crashed script."""
    import shutil

    from tui.runs.run_record import RunRecord

    root.mkdir()
    parent = root / "ctc-1"
    for age, (name, seed, record_fields) in enumerate((("ctc-1", "seed003_ctc_blank", {"exit_code": 0}),
                                      ("ctc-2", "seed000_tcn_plateau", {"exit_code": 0, "parent": str(parent),
                                                                         "preset": "regularize"}),
                                      ("msa", "seed001_msa_overfit", None),
                                      ("broken-1", None, {"exit_code": 3})), start=1):
        run = root / name
        run.mkdir()
        if seed is not None:
            shutil.copy(seed_path(seed), run / os.path.basename(seed_path(seed)))
        if record_fields is not None:
            flags = ["--lr", "3e-4", "--dropout", "0.1"] if name != "ctc-2" else ["--lr", "3e-4", "--dropout", "0.5"]
            RunRecord(name=name, command=["python", "train.py", *flags], cwd=str(root), run_dir=str(run),
                      started=FIXED_NOW - 900,
                      ended=FIXED_NOW - 600, **record_fields).save()
        if name == "broken-1":
            (run / "stderr.log").write_text("RuntimeError: shard 7 is corrupt\n")
        for path in [*run.iterdir(), run]:  # a distinct age each: the screen lists the newest first
            os.utime(path, (FIXED_NOW - 600 * age, FIXED_NOW - 600 * age))
    return str(root)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_runs_screen(snap_compare, tmp_path, monkeypatch, size):
    _runs_folder(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)  # ./runs, as bare trainwatch finds it (the title names it)
    app = make_app(None, runs_root="runs")

    async def run_before(pilot) -> None:
        await until_runs_listed(pilot, app, 4)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_compare_two_runs(snap_compare, tmp_path, monkeypatch, size):
    """A run and its restart with another dropout: both on the charts, a column each, the flag that differs."""
    from tui.app.screens.compare_screen import CompareScreen

    _runs_folder(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    app = make_app(None, runs_root="runs")

    async def run_before(pilot) -> None:
        await until_runs_listed(pilot, app, 4)
        await pilot.press("space", "down", "space", "c")
        for _ in range(100):
            if isinstance(app.screen, CompareScreen) and app.screen.comparison is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    assert snap_compare(app, terminal_size=size, run_before=run_before)

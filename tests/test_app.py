"""The live UI driven with Textual's Pilot: what it shows for real logs, and every key."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
from textual.widgets import Log

from conftest import CORPUS, SEEDS, corpus_rows, seed_path
from tensorboard_logs import TensorBoardLog
from ui_helpers import FIXED_NOW, make_app, plain, settle, wait_for
import tui.app.app
from tui.app.app import TrainWatch
from tui.readers.log_reader import UnreadableLog, read_target
from tui.model.records import DecodeRecord, MetricRecord
from tui.app.screens.help_screen import HelpScreen
from tui.app.screens.run_picker_screen import RunPickerScreen
from tui.app.widgets.decodes_panel import DecodesPanel
from tui.app.widgets.findings_panel import FindingsPanel
from tui.diagnosis.registry import ordered
from tui.app.widgets.metric_chart import MetricChart
from tui.app.widgets.metrics_table import MetricsTable
from tui.app.widgets.run_header import RunHeader

EXPECTED = json.load(open(os.path.join(SEEDS, "expected.json")))


def table_rows(app) -> dict[str, list[str]]:
    table = app.query_one(MetricsTable)
    return {str(table.get_row_at(i)[0]): [str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)}


@pytest.mark.parametrize("case", sorted(EXPECTED))
async def test_seed_fixture_shows_its_findings(case):
    app = make_app(seed_path(case))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        shown = {finding.id for finding in app.live.findings}
        assert set(EXPECTED[case]["must"]) <= shown
        panel = app.query_one(FindingsPanel)
        assert panel.findings == ordered(app.live.findings)  # causes first, as check lists them
        for finding in panel.findings:  # n walks the list; each one is shown in full in turn
            text = plain(panel)
            assert finding.title in text and finding.evidence in text
            await pilot.press("n")
        assert panel.selected == 0  # round the list, back to the first
        assert table_rows(app)


async def test_ctc_blank_seed_shows_empty_predictions_and_evidence():
    app = make_app(seed_path("seed003_ctc_blank"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        decodes = plain(app.query_one(DecodesPanel))
        assert "(empty prediction)" in decodes and "1 of 3 predictions EMPTY" in decodes
        assert "MILD NORD AUCH ZWOELF" in decodes and "WER 100%" in decodes
        findings = plain(app.query_one(FindingsPanel))
        assert "Blank collapse" in findings and "Overfitting" in findings
        await pilot.press("n")
        assert "val_loss best 4.78 at epoch 31" in plain(app.query_one(FindingsPanel))
        rows = table_rows(app)
        assert rows["loss"][1:4] == ["2.36", "5.29", "4.78"] and rows["wer"][4] == "e55"
        header = app.query_one(RunHeader).render().plain
        assert "epoch 60/150" in header and "gpu-box" in header


def _one_log_per_format() -> list[str]:
    """The first corpus log of each format the readers tell apart (Keras CSV, Lightning, YOLO, ...)."""
    chosen: dict[str, str] = {}
    for row in corpus_rows():
        path = os.path.join(CORPUS, row["file"])
        try:
            contents = read_target(path)
        except UnreadableLog:
            continue
        # One this format really reads: it yields metrics or decodes.
        if any(isinstance(record, (MetricRecord, DecodeRecord)) for record in contents.records):
            chosen.setdefault(contents.format_name, path)
    return sorted(chosen.values())


@pytest.mark.parametrize("path", _one_log_per_format(), ids=os.path.basename)
async def test_corpus_log_of_each_format_is_shown(path):
    app = make_app(path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        if app.live.model.decode_count:
            assert "samples at" in plain(app.query_one(DecodesPanel))
            assert not app.query_one("#decodes-box").has_class("-empty")
        else:
            assert app.query_one("#decodes-box").has_class("-empty")  # its room goes to the metrics
            assert table_rows(app), "no metric rows"
            assert app.query_one("#chart-loss", MetricChart).chart is not None
        header = app.query_one(RunHeader).render().plain
        assert app.live.model.format_name in header


async def test_appended_epochs_appear_live(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss,val_loss\n0,1.0,1.2\n")
    app = make_app(str(log), poll_seconds=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        with open(log, "a") as handle:
            handle.write("1,0.5,0.7\n")
        await wait_for(pilot, lambda: table_rows(app)["loss"][1] == "0.5")
        assert table_rows(app)["loss"][1:3] == ["0.5", "0.7"]
        assert "epoch 1" in app.query_one(RunHeader).render().plain


@pytest.mark.parametrize("quit_after", [0.1, 0.2, 0.3])
async def test_quitting_while_a_fast_run_is_drawn_is_clean(tmp_path, quit_after):
    """Deferred chart, table and header redraws that come due while the screen is taken down are
    skipped (one used to raise NoMatches at quit)."""
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n" + "".join(f"{epoch},{1 / (epoch + 1)}\n" for epoch in range(50)))
    done = threading.Event()

    def append_rows() -> None:
        epoch = 50
        while not done.is_set():
            with open(log, "a") as handle:
                handle.write(f"{epoch},{1 / (epoch + 1)}\n")
            epoch += 1
            time.sleep(0.01)

    writer = threading.Thread(target=append_rows)
    app = make_app(str(log), poll_seconds=0.02)
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await settle(pilot, app)
            writer.start()
            await pilot.pause(0.5 + quit_after)  # then quit with redraws pending
    finally:
        done.set()
        if writer.is_alive():
            writer.join()
    assert app.return_code in (None, 0)


async def test_tensorboard_event_file_is_followed_as_it_grows(tmp_path):
    log = TensorBoardLog(str(tmp_path))
    log.write_steps(range(20))
    app = make_app(str(tmp_path), poll_seconds=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert table_rows(app)["loss"][1:3] == ["0.05", "0.1"]
        log.write_steps(range(20, 40))
        await wait_for(pilot, lambda: table_rows(app)["loss"][1] == "0.025")
        assert table_rows(app)["loss"][1:3] == ["0.025", "0.05"]
        assert "step 39" in app.query_one(RunHeader).render().plain
    log.close()


async def test_truncation_is_shown_as_a_notice(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n0,1.0\n1,0.9\n2,0.8\n")
    app = make_app(str(log), poll_seconds=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        log.write_text("epoch,loss\n0,2.0\n")
        await wait_for(pilot, lambda: any("truncated" in notice for notice in app.live.notices))
        await pilot.pause()
        assert any("truncated" in n.message for n in app._notifications)
        assert table_rows(app)["loss"][1] == "2"


async def test_quit_key_exits_and_leaves_the_log_alone(tmp_path):
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n0,1.0\n")
    app = make_app(str(log))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    assert log.read_text() == "epoch,loss\n0,1.0\n"


async def test_help_key_lists_every_binding():
    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        listed = {key for key, _, _ in app.screen.keys}
        assert {"q", "?", "x", "l", "r", "p", "k", "s", "+", "-", "m", "c", "f", "d", "o", "t"} <= listed
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)


@pytest.mark.parametrize("key, action", [("x", "stop"), ("l", "change the learning rate"), ("r", "restart"),
                                         ("p", "pick a preset"), ("k", "checkpoint")])
async def test_control_keys_say_a_tailed_log_cannot_be_controlled(key, action):
    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.press(key)
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert any(action in m and "only being read" in m for m in messages), messages


async def test_smoothing_keys_change_the_charts():
    app = make_app(seed_path("seed001_msa_overfit"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        chart = app.query_one("#chart-loss", MetricChart)
        smoothed_before = [line.ys for line in chart.chart.lines if not line.raw]
        assert app.smoothing == 0.6
        await pilot.press("s")
        assert app.smoothing == 0.8
        assert [line.ys for line in chart.chart.lines if not line.raw] != smoothed_before
        await pilot.press("plus")
        assert app.smoothing == 0.85
        await pilot.press("minus", "minus")
        assert app.smoothing == 0.75
        for _ in range(5):  # 0.8, 0.9, 0.95, 0.99, then back to 0
            await pilot.press("s")
        assert app.smoothing == 0.0
        assert not any(line.raw for line in chart.chart.lines)  # no ghost when nothing is smoothed
        assert "smoothing 0.00" in app.query_one(RunHeader).render().plain


@pytest.mark.parametrize("key, panel", [("m", "#metrics-box"), ("c", "#charts"), ("f", "#findings-box"),
                                        ("d", "#decodes-box")])
async def test_panel_keys_toggle_their_panel(key, panel):
    app = make_app(seed_path("seed003_ctc_blank"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.query_one(panel).display
        await pilot.press(key)
        assert not app.query_one(panel).display
        await pilot.press(key)
        assert app.query_one(panel).display


async def test_output_key_shows_the_runs_own_output():
    app = make_app(seed_path("seed003_ctc_blank"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        output = app.query_one("#output", Log)
        assert not app.query_one("#output-box").display
        await pilot.press("o")
        assert app.query_one("#output-box").display and not app.query_one("#decodes-box").display
        assert any("Epoch 60/150" in line for line in output.lines)
        await pilot.press("o")
        assert app.query_one("#decodes-box").display


async def test_theme_key_cycles_and_is_remembered(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    config = tmp_path / "trainwatch" / "config.yaml"
    config.parent.mkdir()
    config.write_text("# my thresholds\ndiagnosis:\n  plateau: {patience_fraction: 0.3}\n")
    app = make_app(seed_path("seed000_tcn_plateau"), remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.theme == "trainwatch-dark"
        await pilot.press("t")
        assert app.theme == "trainwatch-high-contrast"
        await pilot.press("t")
        assert app.theme == "trainwatch-light"
        app.theme = "nord"  # what the command palette's theme picker does
        await pilot.pause()
    text = config.read_text()
    assert "theme: nord" in text and "# my thresholds" in text and "patience_fraction: 0.3" in text
    from tui.diagnosis.config import load_thresholds
    assert load_thresholds()["plateau"]["patience_fraction"] == 0.3


async def test_theme_option_is_used_and_unknown_theme_is_refused_gently(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    app = make_app(seed_path("seed000_tcn_plateau"), theme="trainwatch-light", remember=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.theme == "trainwatch-light"
    assert "theme: trainwatch-light" in (tmp_path / "trainwatch" / "config.yaml").read_text()
    app = make_app(seed_path("seed000_tcn_plateau"), theme="no-such-theme")
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.theme == "trainwatch-dark"
        assert any("unknown theme 'no-such-theme'" in n.message for n in app._notifications)


def _make_run(root, name: str, age: float) -> None:
    run = root / name
    run.mkdir(parents=True)
    log = run / "events.jsonl"
    log.write_text(json.dumps({"event": "metrics", "step": 1, "metrics": {"loss": 1.0}}) + "\n")
    os.utime(log, (FIXED_NOW - age, FIXED_NOW - age))
    os.utime(run, (FIXED_NOW - age, FIXED_NOW - age))


async def test_bare_trainwatch_with_one_run_opens_it(tmp_path):
    _make_run(tmp_path / "runs", "only-1", age=3600)
    app = make_app(None, runs_root=str(tmp_path / "runs"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        assert app.target.endswith("only-1")


async def test_bare_trainwatch_with_several_runs_shows_the_runs_screen_newest_first(tmp_path):
    from tui.app.screens.runs_screen import RunsScreen

    _make_run(tmp_path / "runs", "old-1", age=7200)
    _make_run(tmp_path / "runs", "new-1", age=3600)
    _make_run(tmp_path / "runs", "b-1", age=10)
    app = make_app(None, runs_root=str(tmp_path / "runs"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 3)
        assert [row.name for row in app.screen.rows] == ["b-1", "new-1", "old-1"]
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert app.target.endswith("new-1")


async def test_a_big_log_shows_its_whole_history_on_the_first_screen(tmp_path):
    """Over 8 MB of a trainwatch log: read in bulk, the first screen is the whole run (every point in
    the chart's buckets, the findings with it), not a head and a tail; new lines follow as usual."""
    path = tmp_path / "events.jsonl"
    with open(path, "w") as log:
        log.write('{"event":"run_start","time":1,"config":{"max_steps":200000}}\n')
        for step in range(200_000):
            log.write('{"event":"metrics","step":%d,"metrics":{"loss":%.6f}}\n' % (step, 1.0 / (step + 1)))
    assert os.path.getsize(path) > 8 << 20
    seen = []

    class Recording(TrainWatch):
        CSS_PATH = os.path.join(os.path.dirname(tui.app.app.__file__), TrainWatch.CSS_PATH)

        def on_run_loaded(self, message) -> None:  # Textual calls TrainWatch's handler after this one
            seen.append((message.complete, message.live.model.record_count))
    app = Recording(str(path), remember=False, hostname="gpu-box", clock=lambda: FIXED_NOW, poll_seconds=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.history_loaded_at is not None, timeout=60)
        await settle(pilot, app)
        assert seen == [(True, 200_001)]  # one hand-over: the complete run
        assert app.first_screen_at >= app.history_loaded_at
        assert "step 199999/200000" in app.query_one(RunHeader).render().plain
        assert len(app.live.model.current.series["loss"]) == 200_000
        with open(path, "a") as log:
            log.write('{"event":"metrics","step":200000,"metrics":{"loss":0.0000001}}\n')
        await wait_for(pilot, lambda: "step 200000/200000" in app.query_one(RunHeader).render().plain, timeout=10)


async def test_a_big_printed_log_shows_its_end_first_then_its_whole_history(tmp_path):
    """Over 8 MB of printed output (read line by line, no bulk reader): the first screen comes from
    the file's first and last lines while the worker reads the whole file."""
    path = tmp_path / "train.log"
    with open(path, "w") as log:
        for step in range(400_000):
            log.write(f"step {step} loss {1.0 / (step + 1):.6f}\n")
    assert os.path.getsize(path) > 8 << 20
    seen = []

    class Recording(TrainWatch):
        CSS_PATH = os.path.join(os.path.dirname(tui.app.app.__file__), TrainWatch.CSS_PATH)

        def on_run_loaded(self, message) -> None:
            seen.append((message.complete, message.live.model.record_count))
    app = Recording(str(path), remember=False, hostname="gpu-box", clock=lambda: FIXED_NOW, poll_seconds=0.2)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.history_loaded_at is not None, timeout=120)
        await settle(pilot, app)
        assert seen[0][0] is False and 0 < seen[0][1] < 100_000  # the preview: head and tail only
        assert seen[-1][0] is True and seen[-1][1] >= 400_000
        assert app.first_screen_at <= app.history_loaded_at


async def test_markup_in_metric_and_run_names_and_paths_is_shown_as_written(tmp_path, monkeypatch):
    """Names come from logs, directories and files other people wrote: `[/bold]` in one is text."""
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps({"event": "metrics", "epoch": epoch, "metrics": {
        "[/]loss": 1 / (epoch + 1), "val_[/bold]loss": 1.2 / (epoch + 1), "val_acc_[/bold]": epoch / 20, "[@click=app.quit]x": 1.0}})
        + "\n" for epoch in range(20)))
    config = tmp_path / "cfg[/]"  # a user theme file that fails names its path in a notification
    (config / "trainwatch" / "themes").mkdir(parents=True)
    (config / "trainwatch" / "themes" / "bad.yaml").write_text("name: [/b]\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    app = make_app(str(log))
    async with app.run_test(size=(140, 30)) as pilot:  # wide enough for the names whole
        await settle(pilot, app)
        labels = set(table_rows(app))
        assert {"[/]loss", "[@click=app.quit]x"} <= labels, labels
        assert app.query_one("#chart-metric").border_title == r"val_acc_\[/bold]"  # read back as escaped markup
        await pilot.pause()
        messages = [notification.message for notification in app._notifications]
        assert any("cfg[/]" in message and "a theme needs a 'name'" in message for message in messages), messages
    assert app.return_code in (0, None)


async def test_run_names_with_markup_are_listed_in_the_runs_screen(tmp_path):
    from tui.app.screens.runs_screen import RunsScreen

    _make_run(tmp_path / "runs", "a[b]-1", age=5)  # a name cannot hold "/": markup would swallow "[b]"
    _make_run(tmp_path / "runs", "b[@click=app.quit]-1", age=10)
    app = make_app(None, runs_root=str(tmp_path / "runs"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 2)
        await pilot.pause(0.2)
        table = app.screen.query_one("#runs-table")
        shown = [table.render_line(row).text for row in range(table.size.height)]  # as drawn, not as given
        assert any("a[b]-1" in line for line in shown) and any("b[@click=app.quit]" in line for line in shown), shown
        await pilot.press("down", "enter")
        await settle(pilot, app)
        assert app.target.endswith("b[@click=app.quit]-1")


async def test_a_worker_that_raises_ends_the_app_with_exit_code_1_and_one_line(monkeypatch):
    from tui.follow.target_follower import TargetFollower

    def batches(self):
        raise RuntimeError("disk on fire\nsecond line")
        yield

    monkeypatch.setattr(TargetFollower, "batches", batches)
    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.failure is not None)
    assert app.return_code == 1
    assert app.failure == "trainwatch: reading the log failed: RuntimeError: disk on fire"


async def test_the_stop_and_lr_screens_show_a_run_name_and_typed_text_with_markup_as_written():
    from tui.app.screens.action_screens import ConfirmScreen, LrScreen

    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        app.push_screen(ConfirmScreen("Stop exp[/]1-1? (graceful)"))
        await pilot.pause()
        assert plain(app.screen.query_one("#confirm-text")) == "Stop exp[/]1-1? (graceful)"
        await pilot.press("n")
        app.push_screen(LrScreen(0.01, "exp[/bold]-1"))
        await pilot.pause()
        assert "exp[/bold]-1" in plain(app.screen.query_one(".action-title"))
        await pilot.press(*"[/]", "enter")  # not a number: the hint quotes what was typed
        assert plain(app.screen.query_one("#lr-hint")) == "'[/]' is not a number: type an LR (1e-4) or a factor (x0.5, /2)"


async def test_an_lr_change_over_ten_times_is_asked_once_more():
    from tui.app.screens.action_screens import LrScreen

    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        results = []
        app.push_screen(LrScreen(0.01, "exp-1"), results.append)
        await pilot.pause()
        await pilot.press(*"x1e9", "enter")  # meant x1e-9, or not at all: not sent yet
        assert isinstance(app.screen, LrScreen) and not results
        assert "x1e+09: Enter again" in plain(app.screen.query_one("#lr-hint"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: results == [{"factor": 1e9}])
        app.push_screen(LrScreen(0.01, "exp-1"), results.append)
        await pilot.pause()
        await pilot.press(*"0.5", "enter")  # an absolute LR 50x the current one: asked too
        assert isinstance(app.screen, LrScreen) and len(results) == 1
        await pilot.press("end", "backspace", "backspace", "backspace", *"x0.5", "enter")  # a small step: sent at once
        await wait_for(pilot, lambda: len(results) == 2)
        assert results[1] == {"factor": 0.5}


async def test_the_command_palette_offers_every_key():
    from textual.command import CommandPalette

    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for wanted in ("Stop the run", "Change the learning rate of the running job", "Checkpoint now",
                       "Restart with a preset", "Pick a preset", "Show/hide the sample decodes",
                       "Smooth the charts more", "Next trainwatch theme", "Help: every key", "Quit",
                       "Show the next finding in full", "Show the previous finding in full"):
            assert wanted in titles, titles
        decodes = app.query_one("#decodes-box")
        assert decodes.display
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"sample decodes")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_for(pilot, lambda: not decodes.display)


async def test_long_metric_names_take_the_room_there_is_and_stay_distinct_at_80x24(tmp_path):
    """detectron2-style names: the name column widens as far as the other columns allow, and a
    name still too long is cut in its middle, so names sharing a prefix stay apart."""
    log = tmp_path / "metrics.json"
    names = ["fast_rcnn/cls_accuracy", "fast_rcnn/fg_cls_accuracy", "fast_rcnn/false_negative", "loss_box_reg",
             "loss_cls", "lr"]
    log.write_text("".join(json.dumps({"iteration": step, **{name: 1 / (step + 1) for name in names}}) + "\n"
                           for step in range(20)))
    for size in ((140, 40), (80, 24)):
        app = make_app(str(log))
        async with app.run_test(size=size) as pilot:
            await settle(pilot, app)
            table = app.query_one(MetricsTable)
            labels = [str(table.get_row_at(index)[0]) for index in range(table.row_count)]
            assert len(labels) == len(names), labels
            if size[0] == 140:
                assert set(labels) == set(names), labels  # room to spare: whole
            else:  # no room: cut in the middle, the end that names the metric kept, and still distinct
                assert len(set(labels)) == len(names) and "loss_box_reg" in labels, labels
                assert any("…" in label for label in labels), labels
                for label in labels:
                    head, _, tail = label.partition("…")
                    assert any(name.startswith(head) and name.endswith(tail) for name in names), label


def test_cut_names_that_would_read_the_same_keep_more_of_their_ends():
    from tui.app.widgets.metrics_table import fit_names

    names = ["fast_rcnn/cls_accuracy", "fast_rcnn/fg_cls_accuracy", "loss"]
    fitted = fit_names(names, 19)
    assert len(set(fitted)) == 3 and fitted[2] == "loss" and all(len(name) <= 19 for name in fitted), fitted
    assert fit_names(["fast_rcnn/loss_cls", "fast_rcnn/loss_box_reg"], 12) == ["fast_…ss_cls", "fast_…ox_reg"]


async def test_the_header_drops_its_least_useful_fields_never_the_smoothing():
    from dataclasses import replace as with_fields

    from tui.app.widgets.run_header import RunHeader

    app = make_app(seed_path("seed003_ctc_blank"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        header = app.query_one(RunHeader)
        header.overview = with_fields(header.overview, position="epoch 12.3/150 · step 123456/1000000",
                                      throughput="12.3 steps/s", eta="1h 02m", format_name="hf_trainer_stdout")
        await pilot.pause()
        second = header.render().plain.splitlines()[1]
        assert second.rstrip().endswith("smoothing 0.60") and "…" not in second, second
        assert "epoch 12.3/150" in second and "hf_trainer_stdout" not in second, second  # the format goes first


async def test_a_dialog_opens_over_no_earlier_notices():
    from tui.app.screens.action_screens import LrScreen

    app = make_app(seed_path("seed000_tcn_plateau"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        app.notify("a notice that would cover the dialog's text", timeout=30)
        await pilot.pause()
        assert len(app._notifications) >= 1
        app.push_screen(LrScreen(0.01, "exp-1"))
        await pilot.pause()
        assert isinstance(app.screen, LrScreen) and len(app._notifications) == 0


async def test_chart_epochs_are_shown_to_a_tenth(tmp_path):
    log = tmp_path / "word_lm.log"
    log.write_text("".join(f"| epoch {epoch:3d} | {batch:5d}/  299 batches | lr 2.00 | ms/batch  1.20 | loss "
                           f"{3 / (epoch + batch / 299):5.2f} | ppl 20.00\n"
                           for epoch in (1, 2, 3) for batch in range(10, 300, 10)))
    app = make_app(str(log))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.pause(0.5)
        footer = app.query_one("#chart-loss").render().plain.splitlines()[-1]
        assert "epoch 0…3" in footer, footer  # the first point is at epoch 0.0334: not printed as such


def test_a_parent_drawn_for_comparison_never_sets_the_scale():
    from tui.view.chart_data import ChartData, ChartLine
    from tui.view.chart_plot import plot_chart

    child = ChartLine("train", "loss", [10.0, 11.0, 12.0], [1.0, 0.8, 0.7])
    parent = ChartLine("train", "parent loss", [0.0, 5.0, 10.0], [1.0, 3e6, 1.0], raw=True, context=True)
    grid = plot_chart(ChartData("loss", lines=[parent, child]), 20, 5)
    assert (grid.y_low, grid.y_high) == (0.7, 1.0) and grid.x_low == 0.0  # its history in sight, not its scale
    alone = plot_chart(ChartData("loss", lines=[parent]), 20, 5)
    assert alone.y_high == 3e6  # only a parent to draw: its own scale


def test_lr_markers_tell_your_changes_from_the_schedule_and_survive_many_changes():
    from tui.model.records import AckRecord, MetricRecord
    from tui.model.run_model import RunModel
    from tui.view.chart_data import key_charts
    from tui.view.chart_plot import MARKERS, chart_legend, plot_chart

    model = RunModel()
    # A step schedule halving every 10 steps (12 cuts), and a change made with trainwatch at step 65.
    lrs = {step: 0.1 * 0.5 ** (step // 10) for step in range(0, 130, 5)}
    lrs.update({step: lrs[step] * 3 for step in lrs if 65 <= step < 70})
    model.apply([MetricRecord(step=step, epoch=None, values={"loss": 1 / (step + 1), "lr": lr})
                 for step, lr in sorted(lrs.items())])
    model.apply([AckRecord("c1", "set_lr", True, {"lr": 0.0094, "step": 63})])
    lr_chart = key_charts(model, 0.0)[2]
    assert lr_chart.user_lr_changes == [63]
    assert 10 <= len(lr_chart.lr_changes) <= 13 and 65 not in lr_chart.lr_changes  # more than 8: all kept
    grid = plot_chart(lr_chart, 60, 6)
    drawn = "".join(char for row in grid.chars for char in row)
    assert MARKERS["lr-user"] in drawn and drawn.count(MARKERS["lr-change"]) >= 6 * 8  # markers survive past 8
    assert chart_legend(lr_chart) == "┃ you  ╎ LR step"


async def test_an_lr_printed_to_two_decimals_is_not_charted_as_zero(tmp_path):
    """`lr 0.00` from a word-LM style script is the log's rounding: the table says "<0.005", the
    chart leaves those points out and says why."""
    log = tmp_path / "word_lm.log"
    log.write_text("".join(f"| epoch {epoch:3d} | {batch:5d}/  299 batches | lr {20 * 0.25 ** epoch:.2f} | "
                           f"ms/batch  1.20 | loss {3 / (epoch + batch / 299):5.2f} | ppl 20.00\n"
                           for epoch in range(1, 8) for batch in range(50, 300, 50)))
    app = make_app(str(log))
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, app)
        await pilot.pause(0.5)
        assert table_rows(app)["lr"][1] == "<0.005"
        lr_chart = app.query_one("#chart-lr")
        assert lr_chart.chart.note == "lr printed 0: < 0.005" and "printed 0" in str(lr_chart.border_subtitle)
        assert all(y > 0 for line in lr_chart.chart.lines for y in line.ys)


def _tensorboard_runs_folder(tmp_path) -> str:
    """runs/exp1, runs/exp2 and a Keras-style runs/exp3/{train,validation}: three runs."""
    for folder in ("exp1", "exp2", "exp3/train", "exp3/validation"):
        log = TensorBoardLog(str(tmp_path / "runs" / folder))
        log.write_steps(range(20))
        log.close()
    return str(tmp_path / "runs")


async def test_a_folder_of_several_tensorboard_runs_asks_which_one(tmp_path):
    import subprocess
    import sys

    from tui.app.screens.run_picker_screen import RunPickerScreen
    from tui.commands.ui_command import tensorboard_runs
    from tui.readers import SeveralRuns, resolve_target

    folder = _tensorboard_runs_folder(tmp_path)
    with pytest.raises(SeveralRuns) as several:
        resolve_target(folder)
    assert sorted(os.path.basename(run) for run in several.value.runs) == ["exp1", "exp2", "exp3"]
    refused = subprocess.run([sys.executable, "-m", "tui", "check", folder], capture_output=True, text=True)
    assert refused.returncode == 2 and "3 TensorBoard runs here" in refused.stderr and "name one" in refused.stderr
    assert len(resolve_target(os.path.join(folder, "exp3"))) == 2  # one run: train and validation together
    app = make_app(None, choices=tensorboard_runs(folder, several.value.runs))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen))
        options = app.screen.query_one("#picker-list")
        names = [str(options.get_option_at_index(i).prompt).split()[0] for i in range(options.option_count)]
        assert sorted(names) == ["exp1", "exp2", "exp3"]
        options.highlighted = names.index("exp2")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.live is not None and app.live.initial_read_done, timeout=20)
        assert "/exp2/" in app.live.model.source


async def test_findings_are_reached_with_n_and_N_at_80x24_and_the_keys_are_shown():
    from textual.widgets import Footer

    app = make_app(seed_path("seed004_resume_collapse"))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        panel, box = app.query_one(FindingsPanel), app.query_one("#findings-box")
        assert len(panel.findings) == 5 and panel.selected == 0
        assert str(box.border_title) == "findings 1/5" and "n next" in str(box.border_subtitle)
        lines = plain(panel).splitlines()
        assert all(finding.title[:8] in "\n".join(lines[:5]) for finding in panel.findings)  # the whole list, a line each
        assert lines[0].startswith("▸ CRIT") and panel.findings[0].evidence in plain(panel)
        await pilot.press("N")  # back from the first: the last one
        assert panel.selected == 4 and str(box.border_title) == "findings 5/5"
        assert panel.findings[4].evidence in plain(panel) and panel.findings[0].evidence not in plain(panel)
        await pilot.press("n", "n")
        assert panel.selected == 1
        await pilot.press("f")  # hidden: n shows the panel again
        assert not box.display
        await pilot.press("n")
        assert box.display and panel.selected == 2
        footer_keys = {binding.key for (_, binding, _, _) in app.active_bindings.values() if binding.show}
        assert {"q", "x", "l", "r", "k", "n"} <= footer_keys and app.query_one(Footer).compact


async def test_runs_marked_on_the_runs_screen_are_compared_side_by_side(tmp_path, monkeypatch):
    import sys as _sys

    _sys.path.insert(0, os.path.dirname(__file__))
    from test_snapshots import _runs_folder
    from tui.app.screens.compare_screen import CompareScreen
    from tui.app.screens.runs_screen import RunsScreen

    _runs_folder(tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    app = make_app(None, runs_root="runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 4)
        await pilot.press("c")  # nothing marked: it says how
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("space", "down", "space", "c")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None, 20)
        comparison = app.screen.comparison
        assert comparison.names == ["ctc-1", "ctc-2"]
        assert ("dropout", ["0.1", "0.5"]) in comparison.differences and all(key != "lr" for key, _ in comparison.differences)
        loss = comparison.charts[0]
        assert sorted({line.role for line in loss.lines}) == ["run0", "run1"]  # both runs on one chart
        table = app.screen.query_one("#compare-table")
        assert [str(column.label) for column in table.columns.values()][1:] == ["ctc-1", "ctc-2"]
        unit = comparison.charts[0].x_unit
        await pilot.press("a")
        assert app.screen.comparison.charts[0].x_unit != unit
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


def test_command_flags_and_their_differences():
    from tui.model.run_model import RunModel
    from tui.view.run_compare import ComparedRun, command_flags, differences

    assert command_flags(["python", "train.py", "--lr", "3e-4", "--amp", "--batch-size=64", "--epochs", "10"]) == {
        "lr": "3e-4", "amp": "true", "batch_size": "64", "epochs": "10"}
    runs = [ComparedRun("a", RunModel(), ["python", "t.py", "--lr", "1e-3", "--seed", "1"]),
            ComparedRun("b", RunModel(), ["python", "t.py", "--lr", "1e-4", "--seed", "1", "--amp"])]
    assert differences(runs) == [("amp", ["—", "true"]), ("lr", ["1e-3", "1e-4"])]


def test_restarts_are_listed_under_the_run_they_came_from():
    from tui.view.run_table import RunRow, lineage_order

    def row(name, parent=None):
        return RunRow(f"/r/{name}", name, "h", "finished", "", "", "", "", "", "", "", parent)

    rows = [row("c-3", "/r/c-2"), row("x-1"), row("c-2", "/r/c-1"), row("c-1"), row("d-2", "/r/gone-1")]
    assert [(depth, r.name) for depth, r in lineage_order(rows)] == [(0, "x-1"), (0, "c-1"), (1, "c-2"), (2, "c-3"),
                                                                     (0, "d-2")]
    loop = [row("a", "/r/b"), row("b", "/r/a")]  # hand-edited records: each run still listed once
    assert sorted(r.name for _, r in lineage_order(loop)) == ["a", "b"]

"""Hostile logs and targets: absurd numbers, deep nesting, corrupt records, special files, links,
folders a user may not read. Each gives one clear line or is read; nothing hangs or tracebacks."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import pytest

from tensorboard_logs import TensorBoardLog
import tui.commands.check_report  # noqa: F401  (imported here: a child running as another user cannot read /root's stdlib)
from tui.cli import main
from tui.follow.file_follower import FileFollower
from tui.follow.target_follower import TargetFollower
from tui.readers import read_target, resolve_target
from tui.readers.line_buffer import MAX_LINE_BYTES, LineBuffer
from tui.model.records import MetricRecord, ReaderNotice, RunStartRecord
from tui.model.run_model import RunModel

CHECK = [sys.executable, "-m", "tui", "check"]
BIG = "9" * 400  # past float range as an int
HUGE = "9" * 5000  # past Python's 4,300-digit int() limit
DEEP = 100_000


def check(target: str, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CHECK, str(target), *extra], capture_output=True, text=True, timeout=timeout)


def assert_clean(result: subprocess.CompletedProcess) -> None:
    """No traceback; an exit 2 says why in one line."""
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert result.returncode in (0, 1, 2), result.stderr[-2000:]
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def points_of(result: subprocess.CompletedProcess, metric: str) -> int:
    assert_clean(result)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)["series"][metric]["points"]


# Each format with the good rows around absurd ones: the good rows are read, the absurd ones
# dropped or read as inf, and nothing raises.
ABSURD_NUMBER_LOGS = {
    "inf_step.csv": "step,loss\n1,0.5\ninf,0.4\n2,0.3\n",
    "big.csv": f"step,epoch,loss\n1,0,0.5\n{BIG},{BIG},0.4\n2,1,{BIG}\n3,{HUGE},0.2\n4,2,{HUGE}\n",
    "events.jsonl": (f'{{"event":"metrics","step":1,"epoch":0,"metrics":{{"loss":0.5}}}}\n'
                     f'{{"event":"metrics","step":{BIG},"epoch":{BIG},"time":{BIG},"metrics":{{"loss":1}}}}\n'
                     f'{{"event":"metrics","step":2,"metrics":{{"loss":{BIG}}}}}\n'
                     f'{{"event":"metrics","step":3,"metrics":{{"loss":{HUGE}}}}}\n'
                     f'{{"event":"run_start","start_step":{BIG},"dataset_sizes":{{"val":{BIG}}}}}\n'
                     f'{{"event":"metrics","step":4,"metrics":{{"loss":0.3}}}}\n'),
    "metrics.json": f'{{"iteration":1,"loss":0.5}}\n{{"iteration":{BIG},"loss":{BIG}}}\n'
                    f'{{"iteration":3,"loss":{HUGE}}}\n{{"iteration":4,"loss":0.3}}\n',
    "train.log": (f"Epoch 1 | loss 0.5\nEpoch {BIG} | loss 0.4\nEpoch {HUGE} | loss 0.4\nstep 3 loss {HUGE}\n"
                  f"val set: {HUGE}\nEpoch 2 | loss 0.3\n"),
    "hf_stdout.log": (f"{{'loss': 0.5, 'epoch': 1.0}}\n{{'loss': {BIG}, 'epoch': {BIG}, 'step': {BIG}}}\n"
                      f"{{'loss': {HUGE}, 'epoch': 2.0}}\n{{'loss': 0.3, 'epoch': 3.0}}\n"),
    "loss": f"1628697792090 0.5 1\n1628697792091 {BIG} 2\n1628697792092 0.4 {BIG}\n1628697792093 0.3 {HUGE}\n"
            f"1628697792094 0.2 5\n",
}


@pytest.mark.parametrize("name", ABSURD_NUMBER_LOGS)
def test_absurd_numbers_in_every_format_are_read(tmp_path, name):
    path = tmp_path / name
    path.write_text(ABSURD_NUMBER_LOGS[name])
    metric = name if name == "loss" else "loss"
    assert points_of(check(path, "--json"), metric) >= 2


def test_absurd_numbers_in_trainer_state(tmp_path):
    history = (f'[{{"step":1,"epoch":1,"loss":0.5}},{{"step":{BIG},"epoch":{BIG},"loss":{BIG}}},'
               f'{{"step":{HUGE},"loss":{HUGE}}},{{"step":4,"epoch":2,"loss":0.3}}]')
    (tmp_path / "trainer_state.json").write_text(f'{{"log_history": {history}}}')
    assert points_of(check(tmp_path / "trainer_state.json", "--json"), "loss") >= 2


DEEP_LOGS = {  # each with one line nested 100,000 deep between two good ones
    "events.jsonl": ('{"event":"metrics","step":1,"metrics":{"loss":0.5}}\n', "[" * DEEP + "]" * DEEP,
                     '\n{"event":"metrics","step":2,"metrics":{"loss":0.4}}\n'),
    "metrics.json": ('{"iteration":1,"loss":0.5}\n', '{"a":' * DEEP + "1" + "}" * DEEP, '\n{"iteration":2,"loss":0.4}\n'),
    "hf_stdout.log": ("{'loss': 0.5, 'epoch': 1.0}\n", "{'a': " + "[" * DEEP + "]" * DEEP + "}",
                      "\n{'loss': 0.4, 'epoch': 2.0}\n"),
}


@pytest.mark.parametrize("name", DEEP_LOGS)
def test_json_nested_100000_deep_is_skipped(tmp_path, name):
    path = tmp_path / name
    path.write_text("".join(DEEP_LOGS[name]))
    assert points_of(check(path, "--json"), "loss") == 2


def test_trainer_state_nested_100000_deep_is_one_line(tmp_path):
    (tmp_path / "trainer_state.json").write_text('{"log_history": ' + "[" * DEEP + "]" * DEEP + "}")
    result = check(tmp_path)
    assert_clean(result)
    assert result.returncode == 2 and "nests deeper" in result.stderr


def _tfrecord(payload: bytes) -> bytes:
    """One TFRecord framed with TensorBoard's own CRC (not ours: the test must not trust our CRC)."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked_crc32c(header)) + payload + struct.pack("<I", masked_crc32c(payload))


def _len_field(number: int, data: bytes) -> bytes:
    assert len(data) < 128
    return bytes([number << 3 | 2, len(data)]) + data


def test_tensorboard_summary_value_of_the_wrong_wire_type(tmp_path):
    TensorBoardLog(str(tmp_path)).write_steps(range(3))
    path = next(tmp_path.glob("*tfevents*"))
    step = b"\x10\x05"  # Event.step = 5
    wrong_value = _len_field(5, b"\x08\x07")  # Summary.value (a message) written as a varint
    wrong_tensor = _len_field(5, _len_field(1, _len_field(1, b"x") + _len_field(8, b"\x08\x01\x28\x07")))
    with open(path, "ab") as handle:  # tensor dtype float, float_val (field 5) written as a varint
        handle.write(_tfrecord(step + wrong_value) + _tfrecord(step + wrong_tensor))
    assert points_of(check(tmp_path, "--json"), "train/loss") == 3


def _flip_byte(path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_tensorboard_records_are_checked_against_their_crc(tmp_path):
    TensorBoardLog(str(tmp_path)).write_steps(range(5))
    path = next(tmp_path.glob("*tfevents*"))
    records, data, position = [], path.read_bytes(), 0
    while position < len(data):
        length = struct.unpack_from("<Q", data, position)[0]
        records.append((position, length))
        position += 12 + length + 4
    start, length = records[3]  # the file-version record comes first: this is step 2
    _flip_byte(path, start + 12 + length - 3)  # inside val/loss's float: still decodes, to another value
    document = json.loads(check(path, "--json").stdout)
    assert document["series"]["train/loss"]["points"] == 4
    assert "dropped 1 corrupt TensorBoard record(s)" in document["notices"]
    # A corrupt length leaves no way to the next record: the rest is skipped, and said so.
    start, _ = records[4]
    _flip_byte(path, start + 1)
    document = json.loads(check(path, "--json").stdout)
    assert document["series"]["train/loss"]["points"] == 2
    assert any("length is corrupt" in notice for notice in document["notices"])


def test_csv_header_changing_mid_file_reads_under_the_new_names(tmp_path):
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,loss\n0,1.0\n1,0.5\nepoch,loss,val_loss\n0,0.9,1.1\n1,0.4,0.8\n")
    model = RunModel()
    model.apply(read_target(str(path)).records)
    assert [sorted(segment.series) for segment in model.segments] == [["loss"], ["loss", "val_loss"]]
    assert list(model.segments[1].series["val_loss"].values) == [1.1, 0.8]
    assert any("header changed" in notice for notice in model.notices)


def test_csv_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "training_log.csv"
    path.write_bytes(b"\xef\xbb\xbfepoch,loss,val_loss\n0,1.0,1.2\n1,0.5,0.9\n")
    document = json.loads(check(path, "--json").stdout)
    assert document["format"] == "keras_csvlogger"
    assert set(document["series"]) == {"loss", "val_loss"}
    assert document["series"]["loss"]["best_epoch"] == 1  # the epoch column was found under its name


def test_byte_order_mark_split_across_reads():
    buffer = LineBuffer()
    assert buffer.feed(b"\xef") == [] and buffer.feed(b"\xbb") == []
    assert buffer.feed(b"\xbfepoch,loss\n") == ["epoch,loss"]


def test_check_json_lists_the_readers_notices_once_each_in_order(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"iteration":1,"loss":0.5}\nnot json\n{"iteration":2,"loss":0.4}\n')
    document = json.loads(check(path, "--json").stdout)
    assert list(document)[-1] == "notices"
    assert document["notices"] == ["skipped 1 line(s) that are not JSON"]
    path.write_text("epoch,loss\n0,1.0\n1,0.5\n" + "epoch,loss,acc\n" + "0,1,2\n" * 3 + "epoch,loss\n2,0.4\n")
    notices = json.loads(check(path, "--json").stdout)["notices"]
    assert notices == ["the CSV header changed mid-file; reading on under the new columns: epoch, loss, acc",
                       "the CSV header changed mid-file; reading on under the new columns: epoch, loss"]


def test_rich_markup_in_a_metric_name_does_not_break_the_table(tmp_path):
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,val_[/bold]loss,[red]acc\n0,1.0,0.5\n1,0.5,0.6\n2,0.4,0.7\n")
    result = check(path)
    assert_clean(result)
    assert result.returncode in (0, 1) and "val_[/bold]loss" in result.stdout and "[red]acc" in result.stdout


# --- directory targets: links to nothing, loops, files that vanish, special files ---------------

def _log_dir(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "training_log.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n2,0.4\n")
    return target


def test_dangling_links_and_link_loops_in_a_directory_are_passed_over(tmp_path):
    target = _log_dir(tmp_path)
    os.symlink(tmp_path / "nowhere.csv", target / "metrics.csv")  # preferred name, dangling
    os.symlink(target / "loop_b.log", target / "loop_a.log")
    os.symlink(target / "loop_a.log", target / "loop_b.log")
    (target / "sub").mkdir()
    os.symlink("../sub", target / "sub" / "up")  # a folder link back up: listed, never walked
    assert resolve_target(str(target)) == [f"{target}/training_log.csv"]
    assert points_of(check(target, "--json"), "loss") == 3


@pytest.mark.parametrize("name", ["dangling", "loop"])
def test_a_target_that_is_a_broken_link_is_one_line(tmp_path, name):
    link = tmp_path / "train.log"
    os.symlink(tmp_path / "nowhere" if name == "dangling" else link, link)
    result = check(link)
    assert_clean(result)
    assert result.returncode == 2


def test_files_vanishing_while_the_directory_is_listed(tmp_path):
    target = _log_dir(tmp_path)
    stop = threading.Event()

    def churn() -> None:  # a lab script writing and deleting scratch files as fast as it can
        count = 0
        while not stop.is_set():
            path = target / f"scratch_{count % 50}.log"
            path.write_text("x")
            path.unlink()
            count += 1

    thread = threading.Thread(target=churn, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            assert resolve_target(str(target)) == [f"{target}/training_log.csv"]
    finally:
        stop.set()
        thread.join()


def test_check_usr_gives_a_result_or_one_line_quickly():
    started = time.monotonic()
    result = check("/usr", timeout=60)
    assert_clean(result)
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("name", ["train.log", "trainer_state.json", "events.jsonl"])
def test_a_fifo_inside_a_directory_target_is_refused_without_blocking(tmp_path, name):
    target = tmp_path / "run"
    target.mkdir()
    os.mkfifo(target / name)  # no writer ever comes: a plain open() would wait forever
    result = check(target, timeout=20)
    assert_clean(result)
    assert result.returncode == 2 and "FIFO" in result.stderr
    (target / "training_log.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n")
    assert points_of(check(target, "--json", timeout=20), "loss") == 2


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
@pytest.mark.parametrize("name", ["trainer_state.json", "events.jsonl", "metrics.csv"])
def test_a_link_to_an_endless_device_is_refused(tmp_path, device, name):
    target = tmp_path / "run"
    target.mkdir()
    os.symlink(device, target / name)
    result = check(target, timeout=20)
    assert_clean(result)
    assert result.returncode == 2 and "device" in result.stderr
    direct = check(target / name, timeout=20)
    assert_clean(direct)
    assert direct.returncode == 2 and "device" in direct.stderr


@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "directory"])
def test_following_a_special_file_never_blocks_and_says_so_once(tmp_path, special):
    path = tmp_path / "trainer_state.json"
    if special == "fifo":
        os.mkfifo(path)
    elif special == "directory":
        path.mkdir()
    else:
        os.symlink(special, path)
    follower = FileFollower(str(path))
    notices: list[str] = []
    done = threading.Event()

    def poll() -> None:
        for _ in range(5):  # five polls, a second apart in the UI
            notices.extend(follower.read_new().notices)
        done.set()

    threading.Thread(target=poll, daemon=True).start()
    assert done.wait(10), "reading the special file blocked"
    assert len(notices) == 1 and "not a regular file" in notices[0], notices
    # The condition changes (a real file now): it is read.
    if special == "directory":
        path.rmdir()
    else:
        path.unlink()
    path.write_text(json.dumps({"log_history": [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]}))
    records = follower.read_new().records
    assert [r.values["loss"] for r in records if isinstance(r, MetricRecord)] == [1.0, 0.5]


def test_a_whole_file_format_over_the_cap_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("tui.readers.regular_file.WHOLE_FILE_CAP_BYTES", 1 << 20)
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"log_history": [{"step": s, "loss": 1 / (s + 1)} for s in range(60_000)]}))
    assert path.stat().st_size > 1 << 20
    from tui.readers import UnreadableLog

    with pytest.raises(UnreadableLog, match="too big"):
        read_target(str(path))
    follower = FileFollower(str(path))
    notices = [notice for _ in range(3) for notice in follower.read_new().notices]  # three polls: told once
    assert len(notices) == 1 and "too big" in notices[0], notices


def test_an_over_long_line_is_skipped_with_a_notice_and_never_held():
    buffer = LineBuffer()
    assert buffer.feed(b"epoch,loss\n0,1") == ["epoch,loss"]
    for _ in range(50):  # 200 MB of one line, 4 MB at a time
        assert buffer.feed(b"9" * (4 << 20)) == []
        assert len(buffer._pending) <= MAX_LINE_BYTES
    assert buffer.feed(b"9\n1,0.5\n") == ["1,0.5"]
    assert buffer.oversized_lines == 1


def test_a_log_ending_in_a_200_mb_line_finishes_its_first_read(tmp_path):
    """The UI shows "reading the whole log" until a batch says no more is waiting: a file whose
    last 200 MB are one unterminated line must still end its first read (and say why)."""
    path = tmp_path / "train.log"
    with open(path, "wb") as handle:
        handle.write(b"Epoch 1 | loss 0.5\nEpoch 2 | loss 0.4\n")
        handle.write(b"Epoch 3 | loss 0.3 | " * (200_000_000 // 21))
    follower = TargetFollower(str(path), poll_seconds=0.2)
    finished, records = threading.Event(), []

    def consume() -> None:
        for batch in follower.batches():
            records.extend(batch.records)
            if not batch.more:
                finished.set()
                return

    threading.Thread(target=consume, daemon=True).start()
    try:
        assert finished.wait(60), "the first read never ended"
    finally:
        follower.stop()
    assert [r.epoch for r in records if isinstance(r, MetricRecord)] == [1.0, 2.0]
    assert any(isinstance(r, ReaderNotice) and "longer than 1 MB" in r.message for r in records)


# --- a second, unprivileged user: folders and files it may not read -------------------------------

@pytest.fixture(scope="module")
def other_user():
    """A throwaway account (tests run as root, which reads everything); removed afterwards."""
    if os.getuid() != 0:
        pytest.skip("needs root to create a second user")
    name = f"twhostile{os.getpid() % 100000}"
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/false", name],
                   check=True, capture_output=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def run_as(user: pwd.struct_passwd, function, *args) -> tuple[int, str]:
    """``function(*args)`` in a forked child running as ``user``: (its exit code, what it printed)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 99
        try:
            os.close(read_end)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            sys.stdout = sys.stderr = os.fdopen(1, "w")
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            code = function(*args)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code if isinstance(code, int) else 0)
    os.close(write_end)
    with os.fdopen(read_end) as output:
        printed = output.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), printed


@pytest.fixture
def shared_dir():
    """A folder every user can enter (pytest's tmp_path is owner-only)."""
    path = tempfile.mkdtemp(prefix="tw-hostile-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path)


def _check_main(target: str) -> int:
    """`trainwatch check TARGET --json`, in process; its default stream was bound under pytest's capture."""
    tui.commands.check_report.write_json.__defaults__ = (sys.stdout,)
    return main(["check", target, "--json"])


def test_folders_another_user_cannot_read_inside_a_directory_target(other_user, shared_dir, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", os.path.join(shared_dir, "no-config"))  # the user's own: none
    target = os.path.join(shared_dir, "project")
    os.makedirs(target, mode=0o755)
    os.chmod(target, 0o755)
    with open(os.path.join(target, "training_log.csv"), "w") as handle:
        handle.write("epoch,loss\n0,1.0\n1,0.5\n")
    os.chmod(os.path.join(target, "training_log.csv"), 0o644)
    for name, mode in (("locked", 0o700), ("listable", 0o744)):  # 744: names listed, files not reachable
        folder = os.path.join(target, name)
        os.mkdir(folder)
        with open(os.path.join(folder, "metrics.csv"), "w") as handle:
            handle.write("epoch,loss\n0,1.0\n")
        os.chmod(folder, mode)
    code, printed = run_as(other_user, _check_main, target)
    assert "Traceback" not in printed, printed
    assert code == 0, printed
    assert json.loads(printed)["series"]["loss"]["points"] == 2


def _poll_unreadable(path: str) -> int:
    follower = FileFollower(path)
    notices = [notice for _ in range(5) for notice in follower.read_new().notices]
    print(json.dumps(notices))
    return 0


def test_a_file_without_read_permission_is_told_once(other_user, shared_dir):
    path = os.path.join(shared_dir, "events.jsonl")
    with open(path, "w") as handle:
        handle.write('{"event": "metrics", "step": 1, "metrics": {"loss": 1.0}}\n')
    os.chmod(path, 0o600)  # root's: the other user may not read it
    code, printed = run_as(other_user, _poll_unreadable, path)
    assert code == 0, printed
    notices = json.loads(printed)
    assert len(notices) == 1 and "permission denied; will look again" in notices[0], notices


# --- found by tests/benchmarks/fuzz_corpus.py ----------------------------------------------------

def test_a_long_run_of_brackets_before_an_epoch_marker_is_read_quickly(tmp_path):
    """The log-level pattern before a marker took quadratic time on half a megabyte of "["."""
    path = tmp_path / "train.log"
    path.write_text("Epoch 1 | loss 0.5\n" + "[" * 300_000 + " epoch 2 | loss 0.4\nEpoch 3 | loss 0.3\n")
    started = time.monotonic()
    assert points_of(check(path, "--json", timeout=60), "loss") == 2
    assert time.monotonic() - started < 15


def test_an_accuracy_past_100_percent_on_a_small_val_set(tmp_path):
    """Every value k/10 says the val set has 10 samples; a last value of 1.2 broke its interval."""
    path = tmp_path / "training_log.csv"
    values = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.2]
    path.write_text("epoch,loss,val_acc\n" + "".join(f"{e},{1 / (e + 1)},{v}\n" for e, v in enumerate(values)))
    result = check(path, "--json")
    assert_clean(result)
    assert "small_val_set" in [finding["id"] for finding in json.loads(result.stdout)["findings"]]


def test_a_python_literal_warning_from_the_log_is_not_printed(tmp_path):
    """Dict lines are read with ast.literal_eval, which warns on "1if": the log's text, not our news."""
    path = tmp_path / "train.out"
    path.write_text("{'loss': 0.5, 'epoch': 1.0}\n{'loss': 1if, 'epoch': 2}\n{'loss': 0.4, 'epoch': 2.0}\n")
    result = check(path, "--json")
    assert points_of(result, "loss") == 2
    assert result.stderr == ""


def test_a_long_digit_run_that_is_not_a_number_is_refused_quickly(tmp_path):
    """The number pattern split a digit run between two groups every way before failing: 50,000
    digits and a stray "x" in one CSV cell took a minute."""
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,loss\n0,1.0\n1," + "9" * 50_000 + "%x\n2,0.5\n")
    started = time.monotonic()
    model = RunModel()
    model.apply(read_target(str(path)).records)
    assert time.monotonic() - started < 5
    assert list(model.current.series["loss"].values) == [1.0, 0.5]


def test_a_training_loss_at_zero_from_its_start(tmp_path):
    """no_learning's LR hint divided by the loss's first median, which a loss of 1, 0, 0, ... makes 0."""
    path = tmp_path / "training_log.csv"
    path.write_text("epoch,loss,val_loss\n" + "".join(f"{e},{int(e == 0)},{1.0 + 0.001 * (e % 3)}\n" for e in range(30)))
    result = check(path, "--json")
    assert_clean(result)
    assert result.returncode in (0, 1)


def test_a_huge_sample_decode_is_scored_quickly(tmp_path):
    """The edit distance costs the product of the lengths: two 20,000-character decodes took minutes."""
    path = tmp_path / "e10.csv"
    path.write_text("Truth,Decoded\nhello world,hello word\n" + "a b " * 5000 + "," + "b a " * 5000 + "\n")
    started = time.monotonic()
    result = check(path, "--json", timeout=60)
    assert_clean(result)
    assert json.loads(result.stdout)["samples"] == 2 and time.monotonic() - started < 15

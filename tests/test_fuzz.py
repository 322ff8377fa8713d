"""Garbage in: readers and the check command never raise, whatever the bytes."""
from __future__ import annotations

import json
import struct
import subprocess
import sys

from hypothesis import given, settings, strategies as st

from tui.readers.log_reader import LogReader
from tui.model.records import Record
from tui.model.run_model import RunModel
from tui.diagnosis.engine import DiagnosisEngine

NAMES = ["events.jsonl", "training_log.csv", "metrics.json", "trainer_state.json", "train.log",
         "events.out.tfevents.1.host", "loss"]
HEADS = [b"", b"epoch,loss,val_loss\n", b'{"event": "metrics", "metrics": {"loss": 1}}\n', b"Epoch 1/10\n",
         b'{"log_history": [', b"1628697792090 332.6 0\n", b"| a | b |\n|---|---|\n"]


def read_everything(name: str, data: bytes, split: int) -> list[Record]:
    reader = LogReader(name, data[:4096] or b"x")
    if reader.rewrites_whole:
        return reader.replace(data)
    return reader.feed(data[:split]) + reader.feed(data[split:]) + reader.finish()


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NAMES), head=st.sampled_from(HEADS), body=st.binary(max_size=2000),
       split=st.integers(min_value=0, max_value=2000))
def test_readers_survive_random_bytes(name, head, body, split):
    try:
        records = read_everything(name, head + body, split)
    except Exception as error:  # detection may refuse binary data, with a clear message
        from tui.readers import UnreadableLog
        assert isinstance(error, UnreadableLog), repr(error)
        return
    model = RunModel()
    model.apply(records)
    DiagnosisEngine().update(model)


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(st.text(max_size=120), max_size=40))
def test_text_parser_survives_random_lines(lines):
    data = "\n".join(["Epoch 1 | loss 0.5 | val_loss 0.6", *lines]).encode("utf-8", "replace")
    model = RunModel()
    model.apply(read_everything("train.log", data, len(data) // 2))
    DiagnosisEngine().update(model)


def test_check_on_garbage_files_never_tracebacks(tmp_path):
    samples = {
        "junk.csv": b"epoch,loss\n" + bytes(range(1, 255)) * 20,
        "junk.jsonl": b'{"event": "metrics", "metrics": {"loss": "x"}}\n{not json\n' + b"\xff" * 500,
        "trainer_state.json": b'{"log_history": [{"loss": 1, "step": 1}, ',
        "huge_line.log": b"Epoch 1 | loss " + b"9" * 3_000_000 + b"\nEpoch 2 | loss 0.5\n",
    }
    for name, data in samples.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = subprocess.run([sys.executable, "-m", "tui", "check", str(path), "--json"],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode in (0, 1, 2), (name, result.stderr)
        assert "Traceback" not in result.stderr, (name, result.stderr)
        if result.returncode == 2:
            assert len(result.stderr.strip().splitlines()) == 1


# --- one fuzz test per reader: lines of its own format, with the numbers, nesting and bytes that
# broke readers before (400-digit and 5,000-digit integers, inf steps, 100,000-deep JSON), fed in
# pieces cut anywhere as a growing file would be; then the model and every diagnosis run on it.

ABSURD = ["9" * 400, "-" + "9" * 400, "9" * 5000, "1e999", "-1e999", "inf", "-inf", "nan", "1_000", "0x10", "",
          "1" * 25, "-0", "1e-400", "3.", ".5", "--1", "\u0661\u0662"]
numbers = st.one_of(st.integers(min_value=-10**6, max_value=10**6).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr), st.sampled_from(ABSURD))
names = st.one_of(st.sampled_from(["loss", "val_loss", "epoch", "step", "lr", "val_[/bold]loss", "acc", "iteration",
                                   "eval_wer", "learning_rate", "Epoch", "\ufeffepoch", "train/loss"]),
                  st.text(max_size=12))
odd_bytes = st.sampled_from([b"\x00", b"\xff\xfe", b"\r", b"\r\n", b"\xef\xbb\xbf", b"\x1b[31m", b"\t", b"\xc3", b""])
DEEP_JSON = "[" * 100_000 + "]" * 100_000


def json_value(number: str) -> str:
    """A number as it would sit in JSON: bare when JSON takes it, else quoted."""
    try:
        json.loads(number)
        return number
    except (ValueError, RecursionError):
        return json.dumps(number)


@st.composite
def json_object(draw, keys=names) -> str:
    pairs = draw(st.lists(st.tuples(keys, numbers), max_size=6))
    return "{" + ", ".join(f"{json.dumps(k)}: {json_value(v)}" for k, v in pairs) + "}"


def native_line() -> st.SearchStrategy[str]:
    metrics = json_object()
    event = st.sampled_from(["metrics", "run_start", "status", "decode", "ack", "checkpoint", "text", "x"])
    return st.builds(lambda e, m, step, epoch: json.dumps({"event": e, "metrics": 0, "step": 0, "epoch": 0})
                     .replace('"metrics": 0', f'"metrics": {m}').replace('"step": 0', f'"step": {json_value(step)}')
                     .replace('"epoch": 0', f'"epoch": {json_value(epoch)}'), event, metrics, numbers, numbers)


def csv_lines() -> st.SearchStrategy[list[str]]:
    header = st.lists(names.filter(lambda n: "," not in n and "\n" not in n and "\r" not in n), min_size=2, max_size=5)
    row = st.lists(numbers, min_size=1, max_size=6).map(",".join)
    return st.tuples(header.map(",".join), st.lists(st.one_of(row, header.map(",".join)), max_size=25)).map(
        lambda parts: [parts[0], *parts[1]])


def text_line() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda n, name, v: f"Epoch {n} | {name} {v} | val_loss {v}", numbers, names, numbers),
        st.builds(lambda n, total, v: f"{n}/{total} [====] - 1s - loss: {v} - val_loss: {v}", numbers, numbers, numbers),
        st.builds(lambda n: f"Epoch {n}/10", numbers),
        st.builds(lambda name, v: f"| {name} | {v} |", names, numbers),
        st.builds(lambda v: f"train set: {v} val set: {v}", numbers),
        st.builds(lambda v: f"target: hello world\npred: {v}", numbers),
        st.text(max_size=80))


def hf_stdout_line() -> st.SearchStrategy[str]:
    return st.one_of(json_object().map(lambda o: o.replace('"', "'")), json_object(),
                     st.just("{'a': " + DEEP_JSON + "}"), st.text(max_size=40))


def json_lines_line() -> st.SearchStrategy[str]:
    return st.one_of(json_object(), st.just(DEEP_JSON), st.just('{"a":' * 3000 + "1" + "}" * 3000),
                     st.text(max_size=40))


def mlflow_line() -> st.SearchStrategy[str]:
    return st.builds(lambda stamp, value, step: f"{stamp} {value} {step}",
                     st.integers(min_value=10**9, max_value=10**14 - 1), numbers,
                     st.one_of(st.integers(min_value=-10**6, max_value=10**6).map(str),
                               st.sampled_from(["9" * 400, "9" * 5000, "-" + "9" * 30])))


def line_log(lines: st.SearchStrategy) -> st.SearchStrategy[bytes]:
    """Lines joined with odd bytes here and there, as bytes."""
    return st.lists(st.tuples(lines, odd_bytes), min_size=1, max_size=30).map(
        lambda items: b"".join(line.encode("utf-8", "surrogatepass") + junk + b"\n" for line, junk in items))


def read_in_pieces(name: str, data: bytes, cuts: list[int]) -> RunModel:
    """What the live UI does with a growing file: feed it in pieces, then finish; model and diagnosis on it."""
    from tui.readers import UnreadableLog

    try:
        reader = LogReader(name, data[:4096] or b"x")
    except UnreadableLog:
        return RunModel()
    model = RunModel()
    if reader.rewrites_whole:
        model.apply(reader.replace(data))
    else:
        start = 0
        for cut in sorted(cut % (len(data) + 1) for cut in cuts):
            model.apply(reader.feed(data[start:cut]))
            start = cut
        model.apply(reader.feed(data[start:]) + reader.finish())
    DiagnosisEngine().update(model)
    return model


cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=4)
READER_EXAMPLES = 200  # eight readers: the whole file stays well under a minute


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(data=line_log(native_line()), cuts=cuts)
def test_fuzz_native_jsonl(data, cuts):
    read_in_pieces("events.jsonl", data, cuts)


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(lines=csv_lines(), bom=st.booleans(), cuts=cuts)
def test_fuzz_csv(lines, bom, cuts):
    data = (b"\xef\xbb\xbf" if bom else b"") + "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    read_in_pieces("training_log.csv", data, cuts)


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(data=line_log(text_line()), cuts=cuts)
def test_fuzz_text(data, cuts):
    read_in_pieces("train.log", data, cuts)


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(entries=st.lists(json_object(), max_size=20), cut=st.one_of(st.none(), st.integers(min_value=0)),
       deep=st.booleans())
def test_fuzz_hf_trainer_state(entries, cut, deep):
    text = '{"log_history": [' + ", ".join(entries + ([DEEP_JSON] if deep else [])) + "]}"
    data = text.encode("utf-8", "surrogatepass")
    read_in_pieces("trainer_state.json", data if cut is None else data[: cut % (len(data) + 1)], [])


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(data=line_log(hf_stdout_line()), cuts=cuts)
def test_fuzz_hf_stdout(data, cuts):
    read_in_pieces("train.out", data, cuts)


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(data=line_log(json_lines_line()), cuts=cuts)
def test_fuzz_json_lines(data, cuts):
    read_in_pieces("metrics.json", b'{"iteration": 0, "loss": 1}\n' + data, cuts)


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(data=line_log(mlflow_line()), cuts=cuts)
def test_fuzz_mlflow(data, cuts):
    read_in_pieces("loss", data, cuts)


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


@st.composite
def protobuf_message(draw, depth: int = 0) -> bytes:
    """Fields of random numbers and wire types, some of them messages again: Event, Summary, Value."""
    out = b""
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        number = draw(st.sampled_from([1, 2, 5, 8, 4, 6, 3]))
        wire = draw(st.sampled_from([0, 1, 2, 5, 3]))
        out += _varint(number << 3 | wire)
        if wire == 0:
            out += _varint(draw(st.integers(min_value=0, max_value=(1 << 70))))
        elif wire == 1:
            out += draw(st.binary(min_size=8, max_size=8))
        elif wire == 5:
            out += draw(st.binary(min_size=4, max_size=4))
        elif wire == 2:
            inner = draw(protobuf_message(depth + 1)) if depth < 3 and draw(st.booleans()) else draw(st.binary(max_size=12))
            out += _varint(len(inner) + draw(st.sampled_from([0, 0, 0, 3]))) + inner
    return out


@settings(max_examples=READER_EXAMPLES, deadline=None)
@given(payloads=st.lists(protobuf_message(), max_size=12), bad_crc=st.lists(st.booleans(), max_size=12),
       tail=st.binary(max_size=30), cuts=cuts)
def test_fuzz_tensorboard(payloads, bad_crc, tail, cuts):
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    data = b""
    for index, payload in enumerate(payloads):
        header = struct.pack("<Q", len(payload))
        broken = index < len(bad_crc) and bad_crc[index]
        data += (header + struct.pack("<I", masked_crc32c(header)) + payload
                 + struct.pack("<I", masked_crc32c(payload) ^ broken))
    read_in_pieces("events.out.tfevents.1.host", data + tail, cuts)

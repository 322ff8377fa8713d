"""Mutate the corpus logs 100,000+ times and read every mutant the way trainwatch does.

usage:
  .venv/bin/python tests/benchmarks/fuzz_corpus.py                 # 100,000 cases, 2 workers
  .venv/bin/python tests/benchmarks/fuzz_corpus.py --cases 2000 --seed 7 --keep /tmp/fuzz-found

Each case takes one log (the labelled corpus, the seed fixtures, and a native event log and a
TensorBoard file written here), applies one or more mutations (bit flips, byte noise, truncation,
splices from another log, 400- and 5,000-digit integers, inf/nan, JSON nested up to 100,000 deep,
NULs, CRs, BOMs, broken UTF-8, a 2 MB line), and runs it in-process through reader detection, a
feed in random pieces (as a growing file is read), the run model, every diagnosis, the JSON report
and, for some, the printed table. One case in --check-every also goes through the real
`trainwatch check` in a subprocess. A case that raises is a traceback; one that takes longer than
--timeout is a hang (its worker is killed and replaced). Prints the counts and exits 1 when any
traceback, hang or exit code other than 0/1/2 was seen; --keep saves those mutants to look at.
"""
from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import queue
import random
import re
import subprocess
import sys
import tempfile
import time
import traceback
from contextlib import redirect_stdout

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
sys.path.insert(0, REPO)

WINDOW_BYTES = 48 << 10  # a big log is mutated in windows of this size (with its head, for detection)
NUMBER_RE = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
ABSURD = [b"9" * 400, b"-" + b"9" * 400, b"9" * 5000, b"1" * 4400, b"1e999", b"-1e999", b"inf", b"-inf", b"nan",
          b"1_000", b"0x1f", b"1e-400", b"\xd9\xa1", b"", b"18446744073709551616", b"-9223372036854775809"]
ODD = [b"\x00", b"\x00" * 40, b"\r", b"\r\n", b"\n" * 5, b"\xef\xbb\xbf", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80",
       b"\x1b[31m", b"\t", b"[/bold]", b"{", b"}", b"[", b"]", b'"', b",", b"|", b"\x85", "\u2028".encode()]


def base_logs() -> list[tuple[str, bytes]]:
    """(file name, bytes) of every log to mutate."""
    logs = []
    for root in (os.path.join(SHARED, "corpus"), os.path.join(SHARED, "fixtures", "seeds")):
        for folder in sorted(os.listdir(root)):
            path = os.path.join(root, folder)
            if os.path.isdir(path):
                for name in sorted(os.listdir(path)):
                    with open(os.path.join(path, name), "rb") as handle:
                        logs.append((name, handle.read()))
    logs.append(("events.jsonl", _native_log()))
    tensorboard = _tensorboard_log()
    if tensorboard:
        logs.append(("events.out.tfevents.1700000000.host", tensorboard))
    return logs


def _native_log() -> bytes:
    lines = [{"event": "run_start", "time": 1.0, "config": {"lr": 0.1, "nested": {"a": [1, 2]}},
              "dataset_sizes": {"train": 1000, "val": 100}, "control": True}]
    for epoch in range(30):
        lines.append({"event": "metrics", "time": 2.0 + epoch, "step": epoch * 10, "epoch": epoch,
                      "metrics": {"loss": 1 / (epoch + 1), "val_loss": 1.2 / (epoch + 1) + 0.01 * epoch, "lr": 0.1}})
        if epoch % 5 == 0:
            lines.append({"event": "decode", "step": epoch * 10, "epoch": epoch, "reference": "hello world",
                          "hypothesis": "" if epoch > 20 else "hello word", "blank_ratio": 0.5})
            lines.append({"event": "checkpoint", "path": f"ckpt/{epoch}.pt", "epoch": epoch, "tag": "best"})
    lines.append({"event": "text", "text": "RuntimeWarning: invalid value encountered", "stream": "stderr"})
    lines.append({"event": "ack", "command_id": "c1", "action": "lr", "applied": True, "detail": {"lr": 0.05}})
    lines.append({"event": "status", "state": "finished", "exit_code": 0})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _tensorboard_log() -> bytes:
    """A TensorBoard file from TensorBoard's own writer (a test extra: none without it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorBoard loads TensorFlow when it is installed
    try:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        return b""
    with tempfile.TemporaryDirectory() as directory:
        writer = EventFileWriter(directory)
        for step in range(200):
            values = [Summary.Value(tag="train/loss", simple_value=1 / (step + 1)),
                      Summary.Value(tag="val/loss", simple_value=1.5 / (step + 1) + step * 1e-3)]
            writer.add_event(Event(step=step, wall_time=1.7e9 + step, summary=Summary(value=values)))
        writer.close()
        name = next(name for name in os.listdir(directory) if "tfevents" in name)
        with open(os.path.join(directory, name), "rb") as handle:
            return handle.read()


def _window(rng: random.Random, data: bytes) -> bytes:
    """A big log's head and one window of it: a mutant of the right format at a tenth of the cost."""
    if len(data) <= WINDOW_BYTES:
        return data
    head_end = data.find(b"\n", 0, 4096) + 1 or 4096
    start = rng.randrange(head_end, len(data) - WINDOW_BYTES)
    return data[:head_end] + data[start: start + WINDOW_BYTES]


def mutate(rng: random.Random, data: bytes, logs: list[tuple[str, bytes]]) -> tuple[bytes, list[str]]:
    """One to three mutations of ``data``; their names, to report what broke."""
    applied = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        kind = rng.choice(("bitflip", "bitflip", "bytes", "truncate", "splice", "number", "number", "deep",
                           "odd", "odd", "long_line", "lines", "chunk"))
        applied.append(kind)
        size = len(data)
        at = rng.randrange(size + 1) if size else 0
        if kind == "bitflip" and size:
            buffer = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                buffer[rng.randrange(size)] ^= 1 << rng.randrange(8)
            data = bytes(buffer)
        elif kind == "bytes":
            data = data[:at] + rng.randbytes(rng.randint(1, 64)) + data[at + rng.randint(0, 64):]
        elif kind == "truncate":
            data = data[:at]
        elif kind == "splice":
            other = _window(rng, rng.choice(logs)[1])
            start = rng.randrange(len(other) + 1)
            data = data[:at] + other[start: start + rng.randint(1, 4096)] + data[at:]
        elif kind == "number":
            matches = list(NUMBER_RE.finditer(data[:200_000]))
            # Back to front, so the positions of the ones still to replace do not shift.
            chosen = sorted(rng.sample(matches, min(len(matches), rng.randint(1, 6))), key=lambda m: -m.start())
            for match in chosen:
                data = data[:match.start()] + rng.choice(ABSURD) + data[match.end():]
        elif kind == "deep":
            depth = rng.choice((500, 1000, 5000, 100_000))
            opener, closer = rng.choice(((b"[", b"]"), (b'{"a":', b"}"), (b"{'a': ", b"}")))
            line_start = data.rfind(b"\n", 0, at) + 1
            nested = opener * depth + b"1" * (opener != b"[") + closer * rng.choice((depth, depth // 2))
            data = data[:line_start] + nested + b"\n" + data[line_start:]
        elif kind == "odd":
            data = data[:at] + rng.choice(ODD) * rng.randint(1, 3) + data[at:]
        elif kind == "long_line":
            data = data[:at] + rng.choice((b"9", b"a", b"[", b"loss 0.5 | ")) * ((2 << 20) // 4) + data[at:]
        elif kind == "lines":
            lines = data.split(b"\n")
            operation = rng.choice(("shuffle", "duplicate", "drop", "header_again"))
            if operation == "shuffle" and len(lines) > 2:
                middle = lines[1:]
                rng.shuffle(middle)
                lines = lines[:1] + middle
            elif operation == "duplicate" and lines:
                index = rng.randrange(len(lines))
                lines[index:index] = [lines[index]] * rng.randint(1, 50)
            elif operation == "drop" and lines:
                del lines[rng.randrange(len(lines))]
            elif lines:
                lines.insert(rng.randrange(len(lines) + 1), lines[0])
            data = b"\n".join(lines)
        elif kind == "chunk" and size:
            start = rng.randrange(size)
            data = data[:at] + data[start: start + rng.randint(1, 2048)] * rng.randint(1, 20) + data[at:]
    return data, applied


def case_input(seed: int, index: int, logs: list[tuple[str, bytes]]) -> tuple[str, bytes, list[str], list[int]]:
    """Case ``index``: the log name, the mutant, its mutations and where it is cut into pieces."""
    rng = random.Random(seed * 1_000_003 + index)
    name, data = logs[index % len(logs)]
    data, applied = mutate(rng, _window(rng, data), logs)
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.choice((0, 1, 3)))) if data else []
    return name, data, applied, cuts


def run_in_process(name: str, data: bytes, cuts: list[int], table: bool) -> None:
    """Reader, model, diagnosis and report, as `trainwatch check` and the live UI run them."""
    from tui.commands.check_report import print_table, report_document, write_json
    from tui.diagnosis.engine import DiagnosisEngine
    from tui.readers import LogReader, UnreadableLog
    from tui.model.run_model import RunModel

    try:
        reader = LogReader(name, data[:64 * 1024])
    except UnreadableLog:
        return
    model = RunModel(name, reader.format_name)
    if reader.rewrites_whole:
        model.apply(reader.replace(data))
    else:
        start = 0
        for cut in cuts:
            model.apply(reader.feed(data[start:cut]))
            start = cut
        model.apply(reader.feed(data[start:]) + reader.finish())
    model.format_name = reader.format_name
    findings = DiagnosisEngine().update(model)
    document = report_document(model, findings)
    write_json(document, io.StringIO())
    if table:
        with redirect_stdout(io.StringIO()):
            print_table(model, findings, document)


def run_check(name: str, data: bytes, as_directory: bool, timeout: float) -> tuple[str, str]:
    """The real `trainwatch check` on the mutant in a file: (outcome, stderr tail)."""
    with tempfile.TemporaryDirectory(prefix="tw-fuzz-") as directory:
        path = os.path.join(directory, name)
        with open(path, "wb") as handle:
            handle.write(data)
        try:
            result = subprocess.run([sys.executable, "-m", "tui", "check", "--json", directory if as_directory else path],
                                    capture_output=True, text=True, timeout=timeout, cwd=REPO)
        except subprocess.TimeoutExpired:
            return "hang", ""
    if "Traceback" in result.stderr:
        return "traceback", result.stderr[-1500:]
    if result.returncode not in (0, 1, 2):
        return f"exit {result.returncode}", result.stderr[-1500:]
    if result.returncode == 2 and len(result.stderr.strip().splitlines()) != 1:
        return "not one line", result.stderr[-1500:]
    return f"rc{result.returncode}", ""


_LOGS: list[tuple[str, bytes]] = []


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang()


def worker(seed: int, tasks: multiprocessing.Queue, results: multiprocessing.Queue, options: dict) -> None:
    """Takes case numbers until told to stop; reports each case (and its start, for the watchdog)."""
    import signal

    logs = _LOGS
    signal.signal(signal.SIGALRM, _alarm)
    while True:
        index = tasks.get()
        if index is None:
            return
        results.put(("start", index, os.getpid()))
        name, data, applied, cuts = case_input(seed, index, logs)
        outcome, detail = "ok", ""
        signal.setitimer(signal.ITIMER_REAL, options["timeout"])
        try:
            run_in_process(name, data, cuts, table=index % 50 == 0)
        except _Hang:
            outcome = "hang"
        except Exception:  # noqa: BLE001 - every exception is what this script counts
            outcome, detail = "traceback", traceback.format_exc()[-1500:]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        check = None
        if options["check_every"] and index % options["check_every"] == 0:
            check = run_check(name, data, as_directory=index % (2 * options["check_every"]) == 0,
                              timeout=options["check_timeout"])
        results.put(("done", index, outcome, detail, check, name, applied))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds one in-process case may take")
    parser.add_argument("--check-every", type=int, default=250, help="every Nth case also runs `trainwatch check`")
    parser.add_argument("--check-timeout", type=float, default=60.0)
    parser.add_argument("--keep", help="a folder to save the mutants that failed")
    args = parser.parse_args()
    options = {"timeout": args.timeout, "check_every": args.check_every, "check_timeout": args.check_timeout}
    global _LOGS
    logs = _LOGS = base_logs()  # made once, before the workers fork
    print(f"{len(logs)} logs, {args.cases} cases, seed {args.seed}, {args.workers} workers", flush=True)

    context = multiprocessing.get_context("fork")
    tasks, results = context.Queue(), context.Queue()
    for index in range(args.cases):
        tasks.put(index)

    def start_worker():
        process = context.Process(target=worker, args=(args.seed, tasks, results, options), daemon=True)
        process.start()
        return process

    workers = {}
    for _ in range(args.workers):
        process = start_worker()
        workers[process.pid] = process
    running: dict[int, tuple[int, float]] = {}  # pid -> (case, started at)
    counts = {"ok": 0, "traceback": 0, "hang": 0}
    checks: dict[str, int] = {}
    failures: list[tuple[int, str, str, list[str], str]] = []
    done, started_at, last_report = 0, time.monotonic(), time.monotonic()
    while done < args.cases:
        try:
            message = results.get(timeout=1.0)
        except queue.Empty:
            message = None
        if message and message[0] == "start":
            running[message[2]] = (message[1], time.monotonic())
        elif message:
            _, index, outcome, detail, check, name, applied = message
            running = {pid: item for pid, item in running.items() if item[0] != index}
            done += 1
            counts[outcome] += 1
            if outcome != "ok":
                failures.append((index, outcome, name, applied, detail))
            if check is not None:
                checks[check[0]] = checks.get(check[0], 0) + 1
                if not check[0].startswith("rc"):
                    failures.append((index, f"check {check[0]}", name, applied, check[1]))
        # The watchdog: a case stuck where SIGALRM cannot reach (inside C code) is a hang too.
        limit = args.timeout + args.check_timeout + 30
        for pid, (index, since) in list(running.items()):
            if time.monotonic() - since > limit:
                workers.pop(pid).kill()
                del running[pid]
                done += 1
                counts["hang"] += 1
                failures.append((index, "hang (killed)", logs[index % len(logs)][0], [], ""))
                process = start_worker()
                workers[process.pid] = process
        if time.monotonic() - last_report > 60:
            last_report = time.monotonic()
            rate = done / (last_report - started_at)
            print(f"  {done}/{args.cases} cases ({rate:.0f}/s): {counts}, check {checks}", flush=True)
    for _ in workers:
        tasks.put(None)
    for process in workers.values():
        process.join(timeout=10)

    if args.keep and failures:
        os.makedirs(args.keep, exist_ok=True)
        for index, outcome, name, applied, detail in failures[:200]:
            _, data, _, _ = case_input(args.seed, index, logs)
            with open(os.path.join(args.keep, f"case{index}_{name}"), "wb") as handle:
                handle.write(data)
    seen: set[str] = set()
    for index, outcome, name, applied, detail in failures:
        last_line = detail.strip().splitlines()[-1] if detail.strip() else ""
        if (outcome, last_line) in seen:
            continue
        seen.add((outcome, last_line))
        print(f"\n--- case {index} ({name}, {'+'.join(applied)}): {outcome}\n{detail}")
    odd_exits = sum(count for outcome, count in checks.items() if outcome.startswith("exit"))
    print(f"\n{done} mutations in {time.monotonic() - started_at:.0f} s; in-process: {counts['ok']} ok, "
          f"{counts['traceback']} tracebacks, {counts['hang']} hangs; trainwatch check on "
          f"{sum(checks.values())}: {dict(sorted(checks.items()))}; exit codes other than 0/1/2: {odd_exits}")
    return 1 if counts["traceback"] or counts["hang"] or len(checks) > sum(
        1 for outcome in checks if outcome.startswith("rc")) else 0


if __name__ == "__main__":
    sys.exit(main())

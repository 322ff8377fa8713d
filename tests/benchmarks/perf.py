"""trainwatch performance benchmark: makes its own data, measures against the budgets, prints a table.

    .venv/bin/python tests/benchmarks/perf.py [--data DIR] [--live-seconds 15] [--idle-seconds 20]

(a) a 1M-step log, the same scalars as native JSONL, CSV and a TensorBoard event file: `trainwatch
    check` and a cold open of the UI (a fresh process, until the first screen with data and until
    the whole history is in with its findings) on each; in the same run, TensorBoard's Rust data
    server (launch until its scalars endpoint serves the last step, from a venv without TensorFlow)
    and its Python EventAccumulator, and the polars floor of each text file (a fresh process that
    imports polars and parses it). Each figure is the median of three runs. (b) peak memory of a UI process holding
    10M points. (c) live, in a real terminal (tmux): a separate writer process logging 1,000 records/s
    through trainers.runlog, write -> on screen p50/p95, the UI's CPU share under that load and idle.
    (d) the trainer-side cost of one logged record next to torch's SummaryWriter.add_scalar.
    (e) `trainwatch check` over the whole corpus, and the import time of the check path.
    (f) one 1,500-word sample decode: its WER, CER and colouring (what the UI does per decode).
Needs the test extras (tensorboard, torch) and tmux; no pass/fail, the table is the result.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(os.path.dirname(REPO), "shared", "corpus")
PYTHON = sys.executable
TRAINWATCH = os.path.join(os.path.dirname(PYTHON), "trainwatch")
STEPS = 1_000_000
VAL_EVERY = 10_000


def loss_at(step: int) -> float:
    return round(2.5 / (1 + step / 20_000) + 0.05 * ((step * 7919) % 1000) / 1000, 5)


def make_data(directory: str) -> dict[str, str]:
    """The same 1.1M scalars three ways (made once per directory): native JSONL, CSV, TensorBoard."""
    os.makedirs(directory, exist_ok=True)
    paths = {"jsonl": os.path.join(directory, "jsonl", "events.jsonl"),
             "csv": os.path.join(directory, "csv", "metrics.csv"), "tb": os.path.join(directory, "tb")}
    if all(os.path.exists(path) for path in paths.values()):
        return paths
    os.makedirs(os.path.dirname(paths["jsonl"]), exist_ok=True)
    os.makedirs(os.path.dirname(paths["csv"]), exist_ok=True)
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(paths["tb"])
    with open(paths["jsonl"], "w") as native, open(paths["csv"], "w") as table:
        native.write('{"event":"run_start","time":1700000000.0,"config":{"max_steps":%d}}\n' % STEPS)
        table.write("step,epoch,loss,val_loss\n")
        for step in range(STEPS):
            loss = loss_at(step)
            native.write('{"event":"metrics","step":%d,"metrics":{"loss":%s}}\n' % (step, loss))
            summary = [Summary.Value(tag="loss", simple_value=loss)]
            val = ""
            if step % VAL_EVERY == VAL_EVERY - 1:
                val = round(loss * 1.15, 5)
                native.write('{"event":"metrics","step":%d,"epoch":%d,"metrics":{"val_loss":%s}}\n'
                             % (step, step // VAL_EVERY, val))
                summary.append(Summary.Value(tag="val_loss", simple_value=val))
            table.write(f"{step},{step // VAL_EVERY},{loss},{val}\n")
            writer.add_event(Event(step=step, wall_time=1700000000.0 + step, summary=Summary(value=summary)))
    writer.close()
    return paths


OPEN_SCRIPT = textwrap.dedent("""
    import asyncio, sys, time
    started = float(sys.argv[2])
    # As `trainwatch tail` opens a target: the follower first, its first look started, then the screen.
    from tui.follow.open_target import open_target
    follower = open_target(sys.argv[1])
    follower.read_ahead()
    from tui.app.app import TrainWatch
    async def main():
        app = TrainWatch(sys.argv[1], remember=False, follower=follower)
        async with app.run_test(size=(100, 30)) as pilot:
            while app.first_screen_at is None:
                await asyncio.sleep(0.005)
            first = time.time() - started - (time.monotonic() - app.first_screen_at)
            while app.history_loaded_at is None or not app.settled:
                await asyncio.sleep(0.01)
            full = time.time() - started
            points = sum(len(s) for seg in app.live.model.segments for s in seg.series.values())
            print(first, full, points)
    asyncio.run(main())
""")

FLOOR_SCRIPT = textwrap.dedent("""
    import sys, time
    started = time.perf_counter()
    import polars as pl
    kind, path = sys.argv[1], sys.argv[2]
    # What a user of polars alone would write. For the JSONL the default schema inference looks at
    # the first 100 lines only (it never sees val_loss): a floor, not a reading trainwatch could use.
    frame = pl.read_ndjson(path) if kind == "jsonl" else pl.read_csv(path)
    print(time.perf_counter() - started, frame.height)
""")

# TensorBoard as its users run it: the Rust data server (--load_fast=true), from a venv with
# TensorBoard alone (no TensorFlow), polled until its scalars endpoint serves the run's last step.
TENSORBOARD_RUST_SCRIPT = textwrap.dedent("""
    import json, socket, subprocess, sys, time, urllib.request
    logdir, tensorboard, last_step = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.time()
    server = subprocess.Popen([tensorboard, "--logdir", logdir, "--load_fast=true", "--port", str(port),
                               "--host", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/data/plugin/scalars/scalars?run=.&tag=loss"
    try:
        while time.time() - started < 300:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    points = json.loads(response.read())
                if points and points[-1][1] == last_step:
                    print(time.time() - started, len(points))
                    break
            except OSError:
                pass
            time.sleep(0.01)
        else:
            sys.exit("TensorBoard never served the last step")
    finally:
        server.terminate()
        server.wait()
""")

TENSORBOARD_SCRIPT = textwrap.dedent("""
    import sys, time
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    started = time.perf_counter()
    accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
    accumulator.Reload()
    count = sum(len(accumulator.Scalars(tag)) for tag in accumulator.Tags()["scalars"])
    print(time.perf_counter() - started, count)
""")

MEMORY_SCRIPT = textwrap.dedent("""
    import tui.app.app  # a UI process: Textual is loaded too
    from tui.view.live_run import LiveRun
    from tui.follow.stream_decoder import FollowBatch
    from tui.model.records import MetricRecord
    live = LiveRun("memory", "trainwatch_jsonl")
    names = [f"metric_{i}" for i in range(10)]
    for start in range(0, 1_000_000, 10_000):
        live.apply(FollowBatch(records=[MetricRecord({name: 1.0 / (step + 1 + i) for i, name in enumerate(names)},
                                                    step, step / 10_000, None) for step in range(start, start + 10_000)]), 0.0)
    points = sum(len(s) for s in live.model.current.series.values())
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
    with open("/proc/self/status") as status:
        peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    print(points, peak_kb / 1024)
""")

# Keep TensorFlow (which TensorBoard loads when it is installed) quiet in the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The live writer: a trainer logging through trainers.runlog at a steady rate (each record's
# "time" is when log.metrics was called, so latency includes the trainer-side queue).
WRITER_SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[4])
    from trainers.runlog import RunLog
    log, first, seconds, rate = RunLog(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), 1000.0
    started = time.perf_counter()
    step = first
    while time.perf_counter() - started < seconds:
        due = first + int((time.perf_counter() - started) * rate)
        while step < due:
            log.metrics(step=step, loss=1.0 / (step + 1))
            step += 1
        time.sleep(0.001)
    log.close()
""")


def run(*args: str, timeout: float = 600) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": REPO, "XDG_CONFIG_HOME": tempfile.mkdtemp()})
    if result.returncode != 0:
        sys.exit(f"benchmark step failed: {' '.join(args[:3])}...\n{result.stderr[-2000:]}")
    return result.stdout.strip()


def tensorboard_alone(directory: str) -> str:
    """The tensorboard command of a venv holding TensorBoard and not TensorFlow (made once, from
    the package registry), as a user of TensorBoard alone has it."""
    venv = os.path.join(directory, "tensorboard-venv")
    command = os.path.join(venv, "bin", "tensorboard")
    if not os.path.exists(command):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "tensorboard"], check=True)
    return command


def check_seconds(path: str) -> float:
    """`trainwatch check --json` on ``path``, a fresh process, launch to exit."""
    started = time.perf_counter()
    result = subprocess.run([TRAINWATCH, "check", "--json", path], capture_output=True, text=True, cwd=REPO)
    if result.returncode not in (0, 1):
        sys.exit(f"check failed on {path}: {result.stderr[-500:]}")
    return time.perf_counter() - started


def median_of(runs: int, measure) -> float:
    """The median of a few runs, for every side alike: one run is at the mercy of the machine's noise."""
    return statistics.median(measure() for _ in range(runs))


def cold_open(path: str) -> tuple[float, float, int]:
    first, full, points = run(PYTHON, "-c", OPEN_SCRIPT, path, repr(time.time())).split()
    return float(first), float(full), int(points)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def live(directory: str, seconds: float, idle_seconds: float) -> dict[str, float]:
    """1,000 records/s into a log the UI follows in tmux; latency from each record's log call to
    the header showing its step (polled every 10 ms, so figures are good to about 10 ms)."""
    log = os.path.join(directory, "live", "events.jsonl")
    os.makedirs(os.path.dirname(log), exist_ok=True)
    history = 100_000
    with open(log, "w") as handle:  # a run that has been going a while
        for step in range(history):
            handle.write('{"event":"metrics","time":%.3f,"step":%d,"metrics":{"loss":%s}}\n'
                         % (time.time() - 3600 + step * 0.036, step, loss_at(step)))
    socket = os.path.join(directory, "live", "tmux.sock")
    tmux = ["tmux", "-S", socket]
    subprocess.run(tmux + ["new-session", "-d", "-s", "bench", "-x", "100", "-y", "30",
                           f"exec env XDG_CONFIG_HOME={directory} TERM=xterm-256color {TRAINWATCH} tail {log}"],
                   check=True)
    step_re = re.compile(r"step (\d+)")

    def shown_step() -> int:
        screen = subprocess.run(tmux + ["capture-pane", "-p", "-t", "bench"], capture_output=True, text=True).stdout
        match = step_re.search(screen.split("\n", 2)[1] if "\n" in screen else screen)
        return int(match.group(1)) if match else -1

    try:
        pid = int(subprocess.run(tmux + ["list-panes", "-t", "bench", "-F", "#{pane_pid}"],
                                 capture_output=True, text=True).stdout.strip())
        deadline = time.monotonic() + 60
        while shown_step() != history - 1:
            if time.monotonic() > deadline:
                sys.exit("the UI never showed the live log's history")
            time.sleep(0.05)
        time.sleep(3)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        time.sleep(idle_seconds)
        idle_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        writer = subprocess.Popen([PYTHON, "-c", WRITER_SCRIPT, log, str(history), str(seconds), REPO])
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        seen_at: list[tuple[float, int]] = []
        while writer.poll() is None:
            seen_at.append((time.time(), shown_step()))
            time.sleep(0.01)
        load_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        time.sleep(1)
        seen_at.append((time.time(), shown_step()))
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    written = {}
    with open(log) as handle:
        for line in handle:
            event = json.loads(line)
            if event.get("step", 0) >= history:
                written[event["step"]] = event["time"]
    latencies, pending = [], sorted(written)
    cursor = 0
    for moment, step in seen_at:  # each record: the first look at which the screen was at it or past it
        while cursor < len(pending) and pending[cursor] <= step:
            latencies.append(max(0.0, moment - written[pending[cursor]]))
            cursor += 1
    latencies.sort()
    return {"records": len(written), "shown": len(latencies), "p50": statistics.median(latencies),
            "p95": latencies[int(0.95 * (len(latencies) - 1))], "load_cpu": load_share, "idle_cpu": idle_share,
            "rate": len(written) / seconds}


def trainer_cost() -> tuple[float, float]:
    """Microseconds per logged scalar: trainers.runlog vs torch.utils.tensorboard."""
    script = textwrap.dedent("""
        import os, sys, tempfile, time
        from trainers.runlog import RunLog
        directory = tempfile.mkdtemp()
        log = RunLog(os.path.join(directory, "events.jsonl"))
        calls = 200_000
        started = time.perf_counter()
        for step in range(calls):
            log.metrics(step=step, loss=0.5)
        ours = (time.perf_counter() - started) / calls
        log.close()
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(os.path.join(directory, "tb"))
        calls = 20_000
        started = time.perf_counter()
        for step in range(calls):
            writer.add_scalar("loss", 0.5, step)
        theirs = (time.perf_counter() - started) / calls
        writer.close()
        print(ours * 1e6, theirs * 1e6)
    """)
    ours, theirs = run(PYTHON, "-c", script).split()
    return float(ours), float(theirs)


def check_corpus() -> tuple[float, int, float]:
    with open(os.path.join(CORPUS, "labels.jsonl")) as handle:
        files = [os.path.join(CORPUS, json.loads(line)["file"]) for line in handle if line.strip()]
    started = time.perf_counter()
    for path in files:
        subprocess.run([TRAINWATCH, "check", "--json", path], capture_output=True, cwd=REPO)
    total = time.perf_counter() - started
    imports = run(PYTHON, "-c", "import time; t = time.perf_counter(); import tui.cli, tui.commands.check_report; "
                  "import sys; print(time.perf_counter() - t, 'textual' in sys.modules or 'torch' in sys.modules)")
    seconds, heavy = imports.split()
    if heavy == "True":
        sys.exit("the check path imported Textual or torch")
    return total, len(files), float(seconds)


DECODE_SCRIPT = textwrap.dedent("""
    import random, time
    from tui.model.decode_diff import diff_decode
    from tui.model.decode_scoring import char_error_rate, word_error_rate
    generator = random.Random(1500)
    words = "und tag bleiben kuehl sechs grad bayern region auch aber nord sued".split()
    reference = [generator.choice(words) for _ in range(1500)]
    hypothesis = [generator.choice(words) if generator.random() < 0.3 else word for word in reference]
    reference, hypothesis = " ".join(reference), " ".join(hypothesis)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        word_error_rate(reference, hypothesis), char_error_rate(reference, hypothesis)
    rates = (time.perf_counter() - started) / rounds
    started = time.perf_counter()
    for _ in range(rounds):
        diff_decode(reference, hypothesis)
    colouring = (time.perf_counter() - started) / rounds
    print(rates * 1000, colouring * 1000)
""")


def decode_scoring() -> tuple[float, float]:
    """Milliseconds for one 1,500-word decode: WER + CER, then the colouring."""
    rates, colouring = run(PYTHON, "-c", DECODE_SCRIPT).split()
    return float(rates), float(colouring)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "trainwatch-bench-data"),
                        help="where the generated logs are kept between runs")
    parser.add_argument("--live-seconds", type=float, default=15.0)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"trainwatch benchmark on {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{platform.platform()}")
    # Bytecode as an installed program has it: this environment may set PYTHONDONTWRITEBYTECODE,
    # and every process would then compile trainwatch's modules from source at each start.
    subprocess.run([PYTHON, "-m", "compileall", "-q", os.path.join(REPO, "tui"), os.path.join(REPO, "trainers")],
                   check=True, stdout=subprocess.DEVNULL)
    made = time.perf_counter()
    paths = make_data(args.data)
    print(f"data in {args.data} ({time.perf_counter() - made:.0f} s to make or find): "
          f"JSONL {os.path.getsize(paths['jsonl']) / 1e6:.0f} MB, CSV {os.path.getsize(paths['csv']) / 1e6:.0f} MB")
    rows: list[tuple[str, str, str]] = []
    tensorboard = tensorboard_alone(args.data)
    rust = median_of(3, lambda: float(run(PYTHON, "-c", TENSORBOARD_RUST_SCRIPT, paths["tb"], tensorboard,
                                        str(STEPS - 1)).split()[0]))
    rows.append(("(a) TensorBoard's Rust data server: launch -> its chart serves the last step", f"{rust:.2f} s", ""))
    tb_seconds, tb_count = (float(x) for x in run(PYTHON, "-c", TENSORBOARD_SCRIPT, paths["tb"]).split())
    rows.append((f"(a) TensorBoard's Python EventAccumulator, same {int(tb_count):,} scalars", f"{tb_seconds:.2f} s", ""))
    for kind in ("jsonl", "csv", "tb"):
        label = {"jsonl": "JSONL", "csv": "CSV", "tb": "TensorBoard file"}[kind]
        checked = median_of(3, lambda: check_seconds(paths[kind]))
        opened = [cold_open(paths[kind]) for _ in range(3)]
        first, full, points = sorted(opened, key=lambda figures: figures[1])[1]
        if kind != "tb":
            floor = median_of(3, lambda: float(run(PYTHON, "-c", FLOOR_SCRIPT, kind, paths[kind]).split()[0]))
            rows.append((f"(a) {label}: polars floor (a fresh process parses it)", f"{floor:.2f} s", ""))
        rows.append((f"(a) {label}: `check` (whole history, findings)", f"{checked:.2f} s", "<= TensorBoard"))
        rows.append((f"(a) {label}: UI first screen (the whole run's shape)", f"{first:.2f} s", "< 0.5 s"))
        rows.append((f"(a) {label}: UI whole history with findings ({points:,} points)", f"{full:.2f} s",
                     "<= TensorBoard"))
        if kind != "tb":
            rows.append((f"(a) {label}: slowest of those / polars floor", f"{max(checked, full) / floor:.1f}x", "<= 3x"))
        rows.append((f"(a) {label}: slowest of those / TensorBoard's Rust server", f"{max(checked, full) / rust:.2f}x",
                     "<= 1x"))
    points, peak = run(PYTHON, "-c", MEMORY_SCRIPT).split()
    rows.append((f"(b) peak memory holding {int(points):,} points (UI process)", f"{float(peak):.0f} MB", "< 150 MB"))
    figures = live(os.path.join(args.data, "run"), args.live_seconds, args.idle_seconds)
    rows.append((f"(c) write -> on screen at {figures['rate']:.0f} records/s, p50", f"{figures['p50'] * 1000:.0f} ms", ""))
    rows.append(("(c) write -> on screen, p95", f"{figures['p95'] * 1000:.0f} ms", "< 100 ms"))
    rows.append(("(c) UI CPU under that load (% of one core)", f"{figures['load_cpu'] * 100:.1f} %", ""))
    rows.append((f"(c) UI CPU idle ({args.idle_seconds:g} s)", f"{figures['idle_cpu'] * 100:.2f} %", "< 0.5 %"))
    ours, theirs = trainer_cost()
    rows.append(("(d) trainer side: RunLog.metrics per record", f"{ours:.2f} us", "< 2 us"))
    rows.append(("(d) torch SummaryWriter.add_scalar per record", f"{theirs:.2f} us", ""))
    total, count, imports = check_corpus()
    rows.append((f"(e) trainwatch check over the corpus ({count} processes)", f"{total:.1f} s", "seconds"))
    rows.append(("(e) import time of the check path (no Textual, no torch)", f"{imports * 1000:.0f} ms", ""))
    rates, colouring = decode_scoring()
    rows.append(("(f) a 1,500-word decode: WER + CER", f"{rates:.1f} ms", ""))
    rows.append(("(f) a 1,500-word decode: its colouring", f"{colouring:.1f} ms", ""))
    width = max(len(row[0]) for row in rows) + 2
    print(f"\n| {'measure':<{width}}| {'value':>10} | budget |")
    print(f"|{'-' * (width + 1)}|{'-' * 12}|--------|")
    for name, value, budget in rows:
        print(f"| {name:<{width}}| {value:>10} | {budget} |")


if __name__ == "__main__":
    main()

"""The detached supervisor of one launched run: ``python -m tui.runs.supervisor RUN_DIR``.

`trainwatch run` starts this in a new session (no controlling terminal), so closing the SSH
session or quitting trainwatch leaves it and its trainer running. It starts the command without a
shell, its output going to ``stdout.log``/``stderr.log``, records the pid, waits, and records the
exit code. When the trainer ended without saying so in its event log (it crashed, was killed, or
has no trainwatch integration), or said so and then exited otherwise (``stopped``, then a non-zero
code), the supervisor writes the final status event for it: the exit code decides (exit_status.py).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from tui.runs.exit_status import failed_worker, final_status
from tui.runs.process_state import process_start_ticks
from tui.runs.run_record import NotOurRun, load_run_record, load_trusted_record

from trainers.control import RUN_DIR_ENV, RESUME_ENV
from trainers.runlog import EVENT_LOG_NAME, PEER_GONE_TEXT, RunLog, read_events


def last_status(event_log: str) -> str | None:
    """The state of the last status event in the log, reading only its tail."""
    states = [str(event.get("state")) for event in read_events(event_log, "status", tail_bytes=65536)]
    return states[-1] if states else None


# Set by the SLURM warning signal (SIGUSR1 before the time limit, or a preemption's): the trainer
# was asked to checkpoint and stop, and its ending is a preemption, not a stop or a crash.
_preempted = False


def supervise(run_dir: str) -> int:
    # The command it runs comes from run.json: only a record no one else could have rewritten.
    record = load_trusted_record(run_dir)
    job_id = os.environ.get("SLURM_JOB_ID") if record.slurm_job_id else None
    if job_id:
        record = _start_of_job(run_dir, record)
    environment = dict(os.environ)
    environment.update(record.env)
    environment[RUN_DIR_ENV] = os.path.abspath(run_dir)
    environment["PYTHONUNBUFFERED"] = "1"  # output reaches stdout.log as it is printed
    if record.resume_from:
        environment[RESUME_ENV] = record.resume_from
    with open(os.path.join(run_dir, "stdout.log"), "ab", opener=_owner_writable) as out, \
            open(os.path.join(run_dir, "stderr.log"), "ab", opener=_owner_writable) as err:
        try:
            # Its own process group: a stop by signal reaches the trainer and its data-loader
            # workers, never this supervisor, which must live to record the exit code.
            process = subprocess.Popen(record.command, cwd=record.cwd, env=environment, stdin=subprocess.DEVNULL,
                                       stdout=out, stderr=err, process_group=0)
        except OSError as error:
            record.error = f"cannot start {record.command[0]!r}: {error.strerror or error}"
            record.exit_code, record.ended = 127, time.time()
            record.save()
            _close_log(run_dir, "crashed", 127, record.error)
            return 127
        record.pid, record.pid_start_ticks, record.supervisor_pid = process.pid, process_start_ticks(process.pid), os.getpid()
        record.started = record.started or time.time()
        record.save()
        code = process.wait()
    record = load_run_record(run_dir)  # a stop may have noted its signal meanwhile
    record.ended = time.time()
    # A death by signal is recorded the shell's way, 128 + N. stop_signal stays what trainwatch's
    # stop sent: a signal nobody here sent (SIGSEGV, the OOM killer) makes a crash, not a stop.
    code = 128 - code if code < 0 else code
    record.exit_code = code
    record.save()
    last = last_status(os.path.join(run_dir, EVENT_LOG_NAME))
    if _preempted and last != "preempted" and code in (0, 130, 128 + signal.SIGINT, 128 + signal.SIGTERM):
        # A trainer without the callback, stopped by the warning's SIGINT: a preemption too.
        _close_log(run_dir, "preempted", code, "stopped by SLURM's warning signal before the time limit")
        last = "preempted"
    ending = final_status(last, code, record.stop_signal)
    if job_id and last == "preempted":
        _requeue_if_asked(run_dir, record, job_id)
    if ending is not None:
        state, message = ending
        worker = None
        if state == "crashed":
            stderr_tail = _tail(os.path.join(run_dir, "stderr.log"))
            worker = failed_worker(stderr_tail) or peer_gone(os.path.join(run_dir, EVENT_LOG_NAME))
            if worker is None and last_line(stderr_tail):
                message = f"{message}; stderr: {last_line(stderr_tail)}"  # the error the trainer died of
        _close_log(run_dir, state, code, f"{worker}; {message}" if worker else message)
    return 0


def _start_of_job(run_dir: str, record):
    """Inside the SLURM job. Started again after a preemption (``--requeue``): the run goes on
    from its newest checkpoint, the same resume a restart uses; its records are the next segment."""
    if record.pid is not None:
        from tui.runs.restart import recorded_checkpoint

        try:
            checkpoint = recorded_checkpoint(run_dir, "last")
        except Exception as error:  # an untrusted checkpoint is not resumed from; the run starts afresh
            print(f"trainwatch supervisor: not resuming: {error}", file=sys.stderr)
            checkpoint = None
        record.requeues += 1
        record.resume_from = checkpoint or record.resume_from
        record.pid = record.pid_start_ticks = record.ended = record.exit_code = record.stop_signal = None
        record.save()
    # SLURM's SIGTERM (scancel, the time limit) reaches every process of the job: this one lives on
    # to record how the trainer ended. SIGUSR1 is the warning before the time limit.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    signal.signal(signal.SIGUSR1, lambda signum, frame: _preempt(run_dir))
    return record


def _preempt(run_dir: str) -> None:
    """The warning signal: a trainer with the callback checkpoints and ends as preempted; one
    without it gets SIGINT (its own KeyboardInterrupt handling, as a stop by signal)."""
    global _preempted
    if _preempted:
        return
    _preempted = True
    from tui.runs.control_client import append_command, new_command
    from tui.runs.run_control import trainer_reads_control

    record = load_run_record(run_dir)
    if trainer_reads_control(run_dir):
        append_command(run_dir, new_command("stop", reason="preempted"))
    elif record.pid:
        try:
            os.killpg(record.pid, signal.SIGINT)
        except OSError:
            pass


def _requeue_if_asked(run_dir: str, record, job_id: str) -> None:
    if "--requeue" not in record.sbatch_options:
        return
    from tui.runs import slurm

    try:
        slurm.requeue(job_id)
    except slurm.SlurmError as error:
        print(f"trainwatch supervisor: {error}", file=sys.stderr)
        return
    with RunLog(os.path.join(run_dir, EVENT_LOG_NAME)) as log:
        log.text(f"job {job_id} requeued: it resumes from the newest checkpoint when SLURM starts it again",
                 stream="stderr")


def peer_gone(event_log: str) -> str | None:
    """``rank 1 (pid 4242) ended first``: what rank 0 noticed of another rank before the run ended
    (trainers/ranks.py), for launchers that report no failed rank themselves."""
    pattern = re.compile(re.escape(PEER_GONE_TEXT).replace(r"\{rank\}", r"(\d+)").replace(r"\{pid\}", r"(\d+)"))
    for event in reversed(list(read_events(event_log, "text", tail_bytes=65536))):
        found = pattern.fullmatch(str(event.get("text", "")))
        if found:
            return f"rank {found.group(1)} (pid {found.group(2)}) ended first"
    return None


def _tail(path: str, size: int = 65536) -> str:
    """The end of a file as text ("" when it cannot be read): torchrun's failure report is there."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, os.fstat(handle.fileno()).st_size - size))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def last_line(text: str, width: int = 200) -> str:
    """The last non-empty line of some output, cut to ``width``: a traceback's last line names the error."""
    line = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def _owner_writable(path: str, flags: int) -> int:
    """0644 whatever the umask: in a group-shared directory nobody else may write the run's output."""
    return os.open(path, flags, 0o644)


def _close_log(run_dir: str, state: str, code: int, message: str) -> None:
    with RunLog(os.path.join(run_dir, EVENT_LOG_NAME)) as log:
        log.status(state, exit_code=code, message=message)


def main() -> int:
    # The terminal going away must not end the run. A no-op handler rather than SIG_IGN: an
    # ignored signal would stay ignored in the trainer too, and a stop sends it SIGINT.
    for name in ("SIGHUP", "SIGINT"):
        signal.signal(getattr(signal, name), lambda signum, frame: None)
    try:
        return supervise(sys.argv[1])
    except NotOurRun as error:  # a record someone else could have rewritten: its command never runs
        print(f"trainwatch supervisor: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

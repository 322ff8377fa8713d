"""Runs as SLURM batch jobs: the batch script, submission, the job's state from the engine, and
cancelling it. The supervisor runs inside the job (tui/runs/supervisor.py), so the run directory,
its event log, exit codes and statuses work as on one machine; this module is what only SLURM knows.

The commands are SLURM's own (``sbatch --parsable``, ``scontrol show job``, ``sacct``, ``scancel``,
``scontrol requeue``), found on PATH; ``SLURM_CONF`` and the rest of the environment are passed through.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

from tui.runs.control_client import ControlError

BATCH_SCRIPT_NAME = "job.sbatch"
SLURM_OUTPUT_NAME = "slurm-%j.out"  # the batch shell's own output; the trainer's goes to stdout/stderr.log
# The warning before the time limit: SIGUSR1 to the batch shell (the supervisor, which execs into
# it) this many seconds before, so the trainer checkpoints and ends as preempted, never killed mid-step.
DEFAULT_WARNING = "B:USR1@90"
QUERY_TIMEOUT_SECONDS = 10.0
STATE_CACHE_SECONDS = 3.0  # the header asks every second; SLURM once in a while is enough
# A controller that does not answer is asked again only after this long: `ls` and the header stay
# usable (the state reads "unknown") while slurmctld is down.
UNREACHABLE_CACHE_SECONDS = 30.0
STATE_QUERY_TIMEOUT_SECONDS = 5.0
# SLURM's job states, as trainwatch names them (squeue's %T / scontrol's JobState / sacct's State).
STATES = {
    "PENDING": "pending", "CONFIGURING": "pending", "REQUEUED": "requeued", "REQUEUE_HOLD": "requeued",
    "REQUEUE_FED": "requeued", "RESIZING": "running", "RUNNING": "running", "COMPLETING": "completing",
    "COMPLETED": "completed", "FAILED": "failed", "CANCELLED": "cancelled", "TIMEOUT": "timeout",
    "OUT_OF_MEMORY": "out of memory", "NODE_FAIL": "node fail", "PREEMPTED": "preempted",
    "BOOT_FAIL": "failed", "DEADLINE": "timeout", "SUSPENDED": "suspended", "STOPPED": "suspended",
    "SPECIAL_EXIT": "failed", "REVOKED": "cancelled",
}
ENDED_STATES = {"completed", "failed", "cancelled", "timeout", "out of memory", "node fail", "preempted"}
# Filesystems a compute node cannot see when the login node writes there.
LOCAL_FILESYSTEMS = {"tmpfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "overlay", "zfs", "f2fs", "ramfs"}
_JOB_ID_RE = re.compile(r"^\d+(?:_\d+)?$")


class SlurmError(ControlError):
    """A SLURM command is missing or failed; the message is one line for the user (a ControlError:
    every caller of a run action already tells those)."""


@dataclass(frozen=True)
class JobState:
    """What SLURM says of a job: trainwatch's state word, SLURM's reason (Priority, Resources...),
    the nodes it runs on, its exit code, and how often it was requeued."""

    state: str
    reason: str = ""
    nodes: str = ""
    exit_code: int | None = None
    restarts: int = 0

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    def describe(self) -> str:
        """``pending (Priority)``, ``running on node[01-02]``."""
        if self.state in ("pending", "requeued") and self.reason and self.reason != "None":
            return f"{self.state} ({self.reason})"
        if self.state in ("running", "completing") and self.nodes:
            return f"{self.state} on {self.nodes}"
        return self.state


def _slurm(arguments: list[str], timeout: float = QUERY_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    program = arguments[0]
    if shutil.which(program) is None:
        raise SlurmError(f"{program}: command not found (is this a SLURM login node?)")
    try:
        return subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{program} did not answer within {timeout:.0f} s") from None


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def batch_script(run_dir: str, job_name: str, options: list[str], supervisor: list[str],
                 environment: dict[str, str]) -> str:
    """The script sbatch runs: its options as #SBATCH lines (those given on the command line win,
    since sbatch reads them last), then the supervisor, exec'd so that it gets the warning signal."""
    lines = ["#!/bin/bash", f"#SBATCH --job-name={job_name}",
             f"#SBATCH --output={os.path.join(run_dir, SLURM_OUTPUT_NAME)}"]
    if not any(option.startswith("--signal") for option in options):
        lines.append(f"#SBATCH --signal={DEFAULT_WARNING}")
    lines.append("# written by trainwatch run --slurm; the run's own output is in stdout.log and stderr.log")
    for name, value in sorted(environment.items()):
        lines.append(f"export {name}={shlex.quote(value)}")
    lines.append("exec " + shlex.join(supervisor))
    return "\n".join(lines) + "\n"


def submit(run_dir: str, job_name: str, options: list[str]) -> str:
    """Write the batch script into the run directory and submit it; returns the job id."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment = {"PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    script = batch_script(run_dir, job_name, options, [sys.executable, "-m", "tui.runs.supervisor", run_dir],
                          environment)
    path = os.path.join(run_dir, BATCH_SCRIPT_NAME)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(script)
    # Held until released: the job id must be in run.json before the supervisor, inside the job,
    # writes the record too (release).
    result = _slurm(["sbatch", "--parsable", "--hold", f"--chdir={run_dir}", *options, path], timeout=60)
    if result.returncode != 0:
        raise SlurmError(f"sbatch refused the job: {_first_line(result.stderr) or f'exit code {result.returncode}'}")
    job_id = _first_line(result.stdout).split(";")[0]  # "1234" or "1234;cluster"
    if not _JOB_ID_RE.match(job_id):
        raise SlurmError(f"sbatch printed no job id: {_first_line(result.stdout)!r}")
    return job_id


def release(job_id: str) -> None:
    """Let a job submitted held (``submit``) start."""
    result = _slurm(["scontrol", "release", job_id])
    if result.returncode != 0:
        raise SlurmError(f"scontrol release failed: {_first_line(result.stderr) or result.returncode}")


def shared_filesystem_warning(path: str) -> str | None:
    """A warning when ``path`` is on a filesystem compute nodes are unlikely to see (a local disk,
    tmpfs) and the cluster has nodes other than this machine; None when it looks shared or when
    every node is this one."""
    fs_type = _filesystem_type(os.path.abspath(path))
    if fs_type is None or fs_type not in LOCAL_FILESYSTEMS:
        return None
    try:
        nodes = _slurm(["sinfo", "-h", "-N", "-o", "%N"]).stdout.split()
    except SlurmError:
        return None
    here = {os.uname().nodename, os.uname().nodename.split(".")[0], "localhost"}
    if nodes and set(nodes) <= here:
        return None
    return (f"{path} is on a local {fs_type} filesystem: the job's node must see it (use a shared "
            "filesystem such as your home or project directory)")


def _filesystem_type(path: str) -> str | None:
    """The type of the mount ``path`` is on, from /proc/self/mounts (the longest mount point)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as mounts:
            entries = [line.split() for line in mounts]
    except OSError:
        return None
    best, kind = "", None
    for fields in entries:
        if len(fields) >= 3:
            point = fields[1].replace("\\040", " ")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


_cache: dict[str, tuple[float, JobState]] = {}


def job_state(job_id: str, max_age: float = STATE_CACHE_SECONDS) -> JobState:
    """The job's state: ``scontrol show job`` while SLURM keeps the job in memory (pending, running,
    and MinJobAge seconds after it ended), then ``sacct`` where accounting exists; a job neither
    knows any more is ``gone``."""
    cached = _cache.get(job_id)
    if cached is not None:
        age, kept = time.monotonic() - cached[0], cached[1]
        if age < max_age or (kept.state == "unknown" and age < UNREACHABLE_CACHE_SECONDS):
            return kept
    try:
        state = _from_scontrol(job_id) or _from_sacct(job_id) or JobState("gone", "SLURM no longer knows the job")
    except SlurmError as error:
        state = JobState("unknown", str(error))
    _cache[job_id] = (time.monotonic(), state)
    return state


def forget(job_id: str) -> None:
    """Drop the cached state (after acting on the job, the next look asks SLURM)."""
    _cache.pop(job_id, None)


def _from_scontrol(job_id: str) -> JobState | None:
    result = _slurm(["scontrol", "show", "job", "-o", job_id], STATE_QUERY_TIMEOUT_SECONDS)
    if result.returncode != 0 and "Invalid job id" not in result.stderr:
        raise SlurmError(f"scontrol: {_first_line(result.stderr) or f'exit code {result.returncode}'}")
    if "JobState=" not in result.stdout:
        return None
    fields = dict(re.findall(r"(\w+)=(\S*)", _first_line(result.stdout)))
    raw = fields.get("JobState", "")
    exit_code = fields.get("ExitCode", "")
    code = int(exit_code.split(":")[0]) if re.match(r"^\d+:\d+$", exit_code) else None
    nodes = fields.get("NodeList", "")
    return JobState(STATES.get(raw, raw.lower()), fields.get("Reason", ""), "" if nodes == "(null)" else nodes,
                    code, int(fields.get("Restarts", "0") or 0))


def _from_sacct(job_id: str) -> JobState | None:
    try:
        result = _slurm(["sacct", "-n", "-P", "-X", "-j", job_id, "-o", "State,Reason,NodeList,ExitCode"],
                        STATE_QUERY_TIMEOUT_SECONDS)
    except SlurmError:
        return None
    line = _first_line(result.stdout)
    if result.returncode != 0 or not line:
        return None
    raw, reason, nodes, exit_code = (line.split("|") + ["", "", "", ""])[:4]
    raw = raw.split()[0] if raw else ""  # "CANCELLED by 1000"
    code = int(exit_code.split(":")[0]) if re.match(r"^\d+:\d+$", exit_code) else None
    return JobState(STATES.get(raw, raw.lower()), reason, nodes, code)


def cancel(job_id: str, signal_name: str | None = None) -> None:
    """``scancel`` the job, or send it a signal (``INT``: the batch shell and its steps)."""
    arguments = ["scancel"] + ([f"--signal={signal_name}", "--full"] if signal_name else []) + [job_id]
    result = _slurm(arguments)
    forget(job_id)
    if result.returncode != 0:
        raise SlurmError(f"scancel failed: {_first_line(result.stderr) or f'exit code {result.returncode}'}")


def requeue(job_id: str) -> None:
    """Put the job back in the queue (from inside it, after a preemption's checkpoint)."""
    result = _slurm(["scontrol", "requeue", job_id])
    forget(job_id)
    if result.returncode != 0:
        raise SlurmError(f"scontrol requeue failed: {_first_line(result.stderr) or result.returncode}")

"""Start a command as a trainwatch run: a new run directory, then a detached supervisor."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Callable

from tui.runs import slurm
from tui.runs.run_record import RUNS_DIR, RunRecord, load_run_record
_UNSAFE_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")
RUN_DIR_MODE = 0o750
# How long `launch_run` waits for the supervisor to report the trainer's pid.
START_WAIT_SECONDS = 10.0


class LaunchError(Exception):
    """The command cannot be launched (nothing was started)."""


def default_name(command: list[str]) -> str:
    """A run name from the command: the script or module it runs (``ctc_reference``), else the program."""
    for index, part in enumerate(command):
        if part == "-m" and index + 1 < len(command):
            return command[index + 1].rsplit(".", 1)[-1]
        if part.endswith(".py"):
            return os.path.splitext(os.path.basename(part))[0]
    return os.path.basename(command[0]) if command else "run"


def new_run_dir(root: str, name: str) -> str:
    """``root/<name>-<n>`` with the next free n; never reuses or overwrites a directory.

    It is made 0750 or 0700 whatever the umask (a lab's umask 002 in a setgid project directory
    would let the group rewrite the record, and so the command a restart runs): the group may read
    and tail the run, only its owner writes in it.
    """
    safe = _UNSAFE_NAME_RE.sub("-", name).strip("-.") or "run"
    try:
        os.makedirs(root, exist_ok=True)
        taken = [entry[len(safe) + 1:] for entry in os.listdir(root) if entry.startswith(safe + "-")]
    except OSError as error:  # ./runs is a file, or a folder we may not write or read
        what = "is not a directory" if isinstance(error, (FileExistsError, NotADirectoryError)) else (
            f"cannot be used ({error.strerror or error})")
        raise LaunchError(f"{root} {what}: runs are kept in {root}/NAME-N/") from None
    number = max((int(suffix) for suffix in taken if suffix.isdigit()), default=0) + 1
    while True:
        path = os.path.join(root, f"{safe}-{number}")
        try:
            os.mkdir(path, RUN_DIR_MODE)  # atomic: two launches at once cannot get the same directory
        except FileExistsError:
            number += 1
            continue
        # The umask may have taken more (077 leaves 0700) or, oddly, the owner's own bits; a setgid
        # bit inherited from a project directory stays, so the run's files keep the lab's group.
        os.chmod(path, (os.stat(path).st_mode | stat.S_IRWXU) & (RUN_DIR_MODE | stat.S_ISGID))
        return path


def _check_command(command: list[str], cwd: str) -> None:
    if not command:
        raise LaunchError("no command given: trainwatch run [--name N] [--preset P] -- CMD ARGS...")
    program = command[0]
    if os.sep in program:
        path = program if os.path.isabs(program) else os.path.join(cwd, program)
        if not os.path.isfile(path) or not os.access(path, os.X_OK):
            raise LaunchError(f"{program}: not an executable file")
    elif shutil.which(program) is None:
        raise LaunchError(f"{program}: command not found")


def launch_run(command: list[str], *, name: str | None = None, root: str = RUNS_DIR, cwd: str | None = None,
               env: dict[str, str] | None = None, preset: str | None = None, parent: str | None = None,
               resume_from: str | None = None, changes: list[str] | None = None,
               files: dict[str, str] | None = None, slurm_options: list[str] | None = None,
               warn: Callable[[str], None] = lambda text: None) -> RunRecord:
    """Create the run directory, start the supervisor detached, and return once the trainer runs.

    ``files`` (name -> text) are written into the run directory before the command starts (a
    preset's edited config). ``command`` may name them as ``{run_dir}/NAME``.
    ``slurm_options`` (a list, maybe empty): submit the supervisor as a SLURM batch job with these
    sbatch options instead, and return once SLURM has the job (it may wait in the queue).
    """
    cwd = os.path.abspath(cwd or os.getcwd())
    _check_command(command, cwd)
    run_dir = os.path.abspath(new_run_dir(root, name or default_name(command)))
    for file_name, text in (files or {}).items():
        # 0644 whatever the umask: the command reads this config, so no one else may rewrite it.
        descriptor = os.open(os.path.join(run_dir, file_name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    command = [part.replace("{run_dir}", run_dir) for part in command]
    record = RunRecord(name=os.path.basename(run_dir), command=list(command), cwd=cwd, run_dir=run_dir,
                       env=dict(env or {}), preset=preset, parent=parent, resume_from=resume_from,
                       changes=list(changes or []), started=time.time())
    record.save()
    if slurm_options is not None:
        return _submit(record, slurm_options, warn)
    with open(os.path.join(run_dir, "supervisor.log"), "ab") as log:
        subprocess.Popen([sys.executable, "-m", "tui.runs.supervisor", run_dir], cwd=cwd,
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                         env=_supervisor_env())
    deadline = time.monotonic() + START_WAIT_SECONDS
    while time.monotonic() < deadline:
        record = load_run_record(run_dir)
        if record.pid or record.error:
            break
        time.sleep(0.02)
    if record.error:
        raise LaunchError(record.error)
    return record


def _submit(record: RunRecord, options: list[str], warn: Callable[[str], None]) -> RunRecord:
    problem = slurm.shared_filesystem_warning(record.run_dir)
    if problem:
        warn(problem)
    try:
        job_id = slurm.submit(record.run_dir, record.name, options)
    except slurm.SlurmError as error:
        record.error, record.exit_code, record.ended = str(error), 1, time.time()
        record.save()
        raise LaunchError(str(error)) from None
    record.slurm_job_id, record.sbatch_options = job_id, list(options)
    record.save()
    slurm.release(job_id)  # submitted held: only now may the job's supervisor write the record
    return record


def _supervisor_env() -> dict[str, str]:
    """The supervisor must import trainwatch even when started from another directory."""
    environment = dict(os.environ)
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, environment.get("PYTHONPATH")]))
    return environment

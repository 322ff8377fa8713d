"""How a run's process ended, in words: an exit code, or the signal that killed it."""
from __future__ import annotations

import re
import signal


def exit_signal(exit_code: int | None) -> str | None:
    """The signal a 128+N exit code stands for (the shell's convention, which the supervisor
    follows when it records a death by signal), e.g. 139 -> SIGSEGV; None for any other code."""
    if exit_code is None or not 128 < exit_code < 128 + signal.NSIG:
        return None
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return None


def describe_exit(exit_code: int) -> str:
    """``exit code 3`` or ``killed by SIGSEGV (exit code 139)``."""
    name = exit_signal(exit_code)
    return f"killed by {name} (exit code {exit_code})" if name else f"exit code {exit_code}"


def final_status(last_state: str | None, exit_code: int, stop_signal: str | None) -> tuple[str, str] | None:
    """The status the supervisor writes once the trainer has exited, or None when the trainer's own
    last status already says how it ended. The exit code decides: a trainer that wrote ``stopped``
    (or ``finished``) and then exited non-zero crashed; a death by a signal trainwatch did not send
    (SIGSEGV, the OOM killer's SIGKILL) is a crash, never a stop."""
    if stop_signal is not None:  # trainwatch's stop had to use signals: whatever the code, a stop
        return None if last_state in ("stopped", "finished", "crashed", "preempted") else ("stopped", f"ended by {stop_signal}")
    if exit_code == 0:
        return None if last_state in ("finished", "stopped", "crashed", "preempted") else ("finished", "exit code 0")
    return None if last_state == "crashed" else ("crashed", describe_exit(exit_code))


# torchrun's ChildFailedError report, at the end of its stderr: the worker that failed first.
_ROOT_CAUSE = re.compile(r"Root Cause \(first observed failure\):\s*\[\d+\]:\n(?P<fields>(?:[ \t]+\w+\s*:.*\n?)+)")
_FIELD = re.compile(r"^[ \t]+(\w+)\s*:\s*(.*?)\s*$", re.M)


def failed_worker(stderr_tail: str) -> str | None:
    """``rank 1 (local rank 1 on gpu-3) killed by SIGKILL`` from torchrun's failure report in a
    run's stderr, or None when there is none (not a torchrun, or it did not fail)."""
    causes = list(_ROOT_CAUSE.finditer(stderr_tail))
    if not causes:
        return None
    fields = dict(_FIELD.findall(causes[-1].group("fields")))
    rank = re.match(r"(\d+)(?:\s*\(local_rank:\s*(\d+)\))?", fields.get("rank", ""))
    if rank is None:
        return None
    where = [f"local rank {rank.group(2)}"] if rank.group(2) is not None else []
    if fields.get("host"):
        where.append(f"on {fields['host']}")
    text = f"rank {rank.group(1)}" + (f" ({' '.join(where)})" if where else "")
    code = re.match(r"(-?\d+)", fields.get("exitcode", ""))
    if code is not None and int(code.group(1)) < 0:
        number = -int(code.group(1))
        name = signal.Signals(number).name if number in signal.valid_signals() else f"signal {number}"
        text += f" killed by {name}"
    elif code is not None:
        text += f" exited with code {code.group(1)}"
    error = fields.get("traceback", "")
    if error and not error.startswith(("To enable traceback", "Signal ")):
        text += f": {error[:200]}"
    return text

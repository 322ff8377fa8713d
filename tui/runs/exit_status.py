"""How a run's process ended, in words: an exit code, or the signal that killed it."""
from __future__ import annotations

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
        return None if last_state in ("stopped", "finished", "crashed") else ("stopped", f"ended by {stop_signal}")
    if exit_code == 0:
        return None if last_state in ("finished", "stopped", "crashed") else ("finished", "exit code 0")
    return None if last_state == "crashed" else ("crashed", describe_exit(exit_code))

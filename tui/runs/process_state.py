"""Is a launched run's process still there, and is it ours? By pid, checked against its start time,
so a pid the kernel has handed to another process is never taken for (or signalled as) our trainer.

Only an int pid above 1 whose recorded start time matches the one in ``/proc`` is ever ours: 0,
1, negative pids (which kill(2) reads as "a whole group" or "everyone") and a record without a
start time never are.
"""
from __future__ import annotations

import os

# The kernel's PID_MAX_LIMIT: no pid on any Linux is larger (pid_max may be set lower, never higher).
PID_MAX = 2**22
# Clock ticks since boot fit a signed 64-bit counter; anything larger is not a start time.
TICKS_MAX = 2**63 - 1


def is_pid(value: object) -> bool:
    """A pid that names one process, never a group or everyone: an int (not bool) in 2..PID_MAX."""
    return type(value) is int and 1 < value <= PID_MAX


def is_start_ticks(value: object) -> bool:
    return type(value) is int and 0 <= value <= TICKS_MAX


def _stat_fields(pid: int) -> list[str] | None:
    """``/proc/PID/stat`` from field 3 on (the state), or None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as file:
            stat = file.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces or parentheses: split after its last ')'.
    return stat[stat.rfind(")") + 2:].split()


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux ``/proc``); None when unknown."""
    fields = _stat_fields(pid) if is_pid(pid) else None
    try:
        return int(fields[19]) if fields else None  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def pid_problem(pid: object, start_ticks: object) -> str | None:
    """Why a recorded pid must never be signalled, whatever runs under it now; None when it may
    be, once ``pid_alive`` says the process is still the one recorded."""
    if not is_pid(pid):
        return f"pid {pid!r} in its record is not a usable pid (an integer from 2 to {PID_MAX})"
    if not is_start_ticks(start_ticks):
        return (f"its record has no usable start time (pid_start_ticks {start_ticks!r}) to tell pid {pid} "
                "from a recycled one")
    return None


def pid_alive(pid: object, start_ticks: object) -> bool:
    """The recorded process is running: a usable pid, started when recorded, not a zombie."""
    if pid_problem(pid, start_ticks) is not None:
        return False
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and process_start_ticks(pid) == start_ticks


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live process below ``pid``, as (pid, start ticks), from ``/proc``. torchrun starts its
    workers in sessions of their own, out of reach of a signal to the trainer's process group; and
    once torchrun is gone they belong to init, so they are found before anything is signalled."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields and len(fields) > 1 and fields[1].isdigit() and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))  # field 4: the parent's pid
    found, waiting = [], list(children.get(pid, []))
    while waiting:
        child = waiting.pop()
        ticks = process_start_ticks(child)
        if ticks is not None and is_pid(child):
            found.append((child, ticks))
            waiting.extend(children.get(child, []))
    return found

"""Runs trainwatch's ssh master and ends it when trainwatch ends, however trainwatch ends.

``python master_guard.py SSH ARGS...`` with stdin a pipe whose write end only trainwatch holds.
trainwatch killed by SIGKILL, SIGTERM or a terminal's SIGHUP runs no atexit handler, but the
kernel still closes its end of the pipe: the guard reads end-of-file and ends ssh. PR_SET_PDEATHSIG
alone would not do in trainwatch itself: it fires when the *thread* that started the child exits,
and reconnections start the master from short-lived worker threads. Here it is safe (this guard is
single-threaded when it starts ssh, and its main thread lives as long as it does) and covers the
guard itself being killed.

Started by file path with ``-I -S``: stdlib only, nothing of trainwatch is imported, so it starts
in a few milliseconds whatever the current directory.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

GRACE_SECONDS = 3.0
_PR_SET_PDEATHSIG = 1


def _pdeathsig_setter():
    """A function for ``preexec_fn`` that makes the child get SIGTERM when this guard dies (Linux)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before fork: nothing to import after it
    except (OSError, AttributeError):
        return None
    guard_pid = os.getpid()

    def set_pdeathsig() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != guard_pid:  # the guard died before the call: nobody would end us
            os._exit(1)

    return set_pdeathsig


def main(argv: list[str]) -> int:
    ended = threading.Event()
    # SIGINT: a no-op, not SIG_IGN (which ssh would inherit); Ctrl-C during an interactive login
    # reaches ssh itself, and the guard follows it out.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda signum, frame: ended.set())
    try:
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig_setter())
    except OSError as error:
        print(f"cannot run {argv[0]!r}: {error.strerror or error}", file=sys.stderr)
        return 255

    def watch_trainwatch() -> None:
        try:
            while os.read(0, 4096):
                pass
        except OSError:
            pass
        ended.set()  # end-of-file: trainwatch closed its end, or is gone

    def watch_ssh() -> None:
        child.wait()
        ended.set()

    for watch in (watch_trainwatch, watch_ssh):
        threading.Thread(target=watch, daemon=True).start()
    while not ended.wait(1.0):
        pass
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    code = child.returncode
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

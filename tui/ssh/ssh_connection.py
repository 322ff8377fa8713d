"""One multiplexed ssh connection to a host, made with the system `ssh`.

The user's `~/.ssh/config`, agent, keys and ProxyJump apply as they do in their own shell. One
master connection (``ssh -M``) is owned by trainwatch; the log stream and every control command run
as sessions over it, so a command costs one round trip and no new login. Only POSIX sh and
coreutils are used on the other side: each session is ``sh -s`` reading its script from stdin.

The destination always follows ``--`` (and one starting with ``-`` is refused), so a target can
never smuggle in an ssh option. The master runs under master_guard.py, which ends it when
trainwatch ends, however it ends: no master connection outlives trainwatch.
"""
from __future__ import annotations

import atexit
import itertools
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time

# Another ssh to use, with options, as with GIT_SSH_COMMAND: "ssh -F ~/.ssh/work_config".
SSH_COMMAND_ENV = "TRAINWATCH_SSH_COMMAND"
CONNECT_TIMEOUT_SECONDS = 20.0
COMMAND_TIMEOUT_SECONDS = 20.0
# Dead-peer detection on the master: three missed keep-alives, 5 s apart.
_KEEPALIVE_OPTIONS = ("-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=10")
_counter = itertools.count(1)
_GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "master_guard.py")


class SshError(Exception):
    """The connection could not be made or was lost; the message is one line for the user."""


def refuse_option_like(destination: str) -> None:
    """A destination ssh could take for an option (``-oProxyCommand=...``) is refused, one line.
    Every ssh command line also puts it after ``--``; this says why rather than failing oddly."""
    if destination.startswith("-") or destination.rpartition("@")[2].startswith("-"):
        raise SshError(f"{destination}: a host name cannot start with '-' (ssh would read it as an option)")


def ssh_base_command() -> list[str]:
    return shlex.split(os.environ.get(SSH_COMMAND_ENV) or "ssh")


def describe_ssh_failure(stderr: str, destination: str, exit_code: int | None = None) -> str:
    """One line for what ssh printed when it failed, naming the likely fix."""
    text = stderr.strip()
    if "Could not resolve hostname" in text or "Name or service not known" in text:
        return f"ssh {destination}: unknown host (the name does not resolve; check it or your ~/.ssh/config)"
    denied = re.search(r"Permission denied \(([^)]*)\)", text)
    if denied:
        return (f"ssh {destination}: login refused (permission denied: {denied.group(1)}); check the user, "
                "the key, ssh-agent or ~/.ssh/config")
    if "Host key verification failed" in text or "REMOTE HOST IDENTIFICATION HAS CHANGED" in text:
        return f"ssh {destination}: the host key is unknown or has changed; run `ssh {destination}` once to check it"
    if "Connection refused" in text:
        return f"ssh {destination}: connection refused (is sshd running, on that port?)"
    if "timed out" in text:
        return f"ssh {destination}: the connection timed out"
    if "No route to host" in text or "Network is unreachable" in text:
        return f"ssh {destination}: the host cannot be reached (no route)"
    if "passphrase" in text.lower() or "password" in text.lower():
        return (f"ssh {destination}: a passphrase or password is needed, which trainwatch cannot type while its "
                "screen is up; add the key to ssh-agent")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Warning:")]
    if lines:
        return f"ssh {destination}: {lines[-1].strip()}"
    return f"ssh {destination}: the connection ended" + (f" (ssh exit code {exit_code})" if exit_code else "")


def end_process(process: subprocess.Popen, grace_seconds: float) -> None:
    """SIGTERM, then SIGKILL after the grace; reaped either way."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _control_directory() -> str:
    """Where the master's socket lives: owner-only, and short (a socket path has ~100 bytes).

    ``trainwatch-UID`` under ``$XDG_RUNTIME_DIR`` or the temp directory is used only when it is
    ours: a real directory (not a link), owned by this user, mode 0700. In a shared /tmp anyone can
    plant that name first (a link to elsewhere, a directory of theirs): then a fresh private one.
    """
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    directory = os.path.join(base, f"trainwatch-{os.getuid()}")
    try:
        os.mkdir(directory, 0o700)
        made = True
    except FileExistsError:
        made = False
    except OSError:
        return _private_directory(base)
    try:
        # Opened without following a link; checked and fixed on the descriptor, so the name cannot
        # be swapped between the check and the use.
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return _private_directory(base)
    try:
        info = os.fstat(descriptor)
        if info.st_uid != os.getuid() or (not made and stat.S_IMODE(info.st_mode) != 0o700):
            return _private_directory(base)
        if made:
            os.fchmod(descriptor, 0o700)  # the umask may have taken bits away; never added any
    finally:
        os.close(descriptor)
    return directory


_private_directories: dict[str, str] = {}
_private_lock = threading.Lock()


def _private_directory(base: str) -> str:
    """One fresh owner-only directory per process (mkdtemp makes it 0700), removed at exit."""
    with _private_lock:
        if base not in _private_directories:
            try:
                directory = tempfile.mkdtemp(prefix="trainwatch-", dir=base if os.path.isdir(base) else None)
            except OSError as error:
                raise SshError(f"cannot make a private directory for the ssh socket: {error.strerror or error}") from None
            _private_directories[base] = directory
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
        return _private_directories[base]


class SshConnection:
    """A master connection to ``destination`` and the sessions run over it. Thread-safe: the
    follower streams from one thread while control commands come from another."""

    def __init__(self, destination: str) -> None:
        refuse_option_like(destination)
        self.destination = destination
        self.ssh = ssh_base_command()
        self.control_path = os.path.join(_control_directory(), f"{os.getpid()}-{next(_counter)}")
        self.master: subprocess.Popen | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)  # never leave a master connection behind when trainwatch exits

    @property
    def connected(self) -> bool:
        return self.master is not None and self.master.poll() is None and os.path.exists(self.control_path)

    def connect(self, interactive: bool = False, timeout: float = CONNECT_TIMEOUT_SECONDS) -> None:
        """Make the master connection unless it is up. ``interactive``: ssh may ask on the terminal
        (passphrase, a new host key), which only works before the screen opens."""
        with self._lock:
            if self.connected:
                return
            self._close_master()
            error_path = self.control_path + ".err"
            with open(error_path, "w+b") as errors:
                argv = [*self.ssh, "-M", "-N", "-T", "-S", self.control_path, "-o", "ControlPersist=no",
                        *_KEEPALIVE_OPTIONS, "-o", f"BatchMode={'no' if interactive else 'yes'}", "--",
                        self.destination]
                try:
                    # Through the guard, which ends ssh when this process ends however it ends: its
                    # stdin is a pipe only we hold (Popen closes it in every other child), so the
                    # kernel closing it at our death is the guard's cue (see master_guard.py).
                    self.master = subprocess.Popen([sys.executable, "-I", "-S", _GUARD, *argv],
                                                   stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                                   stderr=errors, start_new_session=not interactive)
                except OSError as error:
                    raise SshError(f"cannot run {self.ssh[0]!r}: {error.strerror or error}") from None
                deadline = time.monotonic() + timeout
                # ssh makes the socket only once logged in: its appearance means "connected".
                while not os.path.exists(self.control_path):
                    code = self.master.poll()
                    if code is not None:
                        errors.seek(0)
                        self.master = None
                        raise SshError(describe_ssh_failure(errors.read().decode(errors="replace"),
                                                            self.destination, code))
                    if time.monotonic() > deadline:
                        self._close_master()
                        raise SshError(f"ssh {self.destination}: no connection after {timeout:.0f} s")
                    time.sleep(0.02)

    def master_failure(self) -> str | None:
        """Why the master connection ended, when it has (what ssh printed, as one line)."""
        master = self.master
        if master is None or master.poll() is None:
            return None
        try:
            with open(self.control_path + ".err", "rb") as errors:
                text = errors.read().decode(errors="replace")
        except OSError:
            text = ""
        return describe_ssh_failure(text, self.destination, master.returncode)

    def session_command(self) -> list[str]:
        """ssh running ``sh -s`` over the master (or, if it just died, a direct login that
        fails fast in batch mode rather than prompting under the screen)."""
        return [*self.ssh, "-S", self.control_path, "-o", "ControlMaster=no", "-o", "BatchMode=yes",
                *_KEEPALIVE_OPTIONS, "-T", "--", self.destination, "sh -s"]

    def run(self, script: str, timeout: float = COMMAND_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
        """Run a script over the connection; its output is returned whatever its exit code.
        Raises SshError when ssh itself failed (exit code 255)."""
        self.connect()
        try:
            result = subprocess.run(self.session_command(), input=script.encode(), capture_output=True,
                                    timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SshError(f"ssh {self.destination}: no answer after {timeout:.0f} s") from None
        if result.returncode == 255:
            raise SshError(describe_ssh_failure(result.stderr.decode(errors="replace"), self.destination, 255))
        return result

    def stream(self, script: str) -> subprocess.Popen:
        """Start a long-running script; the caller reads its stdout and ends it with ``terminate``."""
        self.connect()
        process = subprocess.Popen(self.session_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, start_new_session=True)
        try:
            process.stdin.write(script.encode())
            process.stdin.close()
        except OSError:
            pass  # it died at once; the caller reads the end of the stream and the error
        return process

    def close(self) -> None:
        with self._lock:
            self._close_master()

    def _close_master(self) -> None:
        master, self.master = self.master, None
        if master is not None:
            master.stdin.close()  # the guard's cue to end ssh
            end_process(master, grace_seconds=5)
        for path in (self.control_path, self.control_path + ".err"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

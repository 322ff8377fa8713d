"""A real OpenSSH server on 127.0.0.1 for the remote tests: throwaway host and user keys, a free
port, and an ssh client config that names it ``twtest`` (passed to trainwatch through
TRAINWATCH_SSH_COMMAND, exactly as a user would point it at another config).

openssh-server is installed by scripts/test.sh (apt-get). Run as root (CI), the server also lets
a second, unprivileged user log in, so "permission denied" is a real one.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from tui.ssh.ssh_connection import SSH_COMMAND_ENV

SSHD = "/usr/sbin/sshd"
OTHER_USER = "trainwatch-ssh"  # created when the tests run as root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _keygen(path: str) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "trainwatch-test", "-f", path], check=True)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        parent = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _ensure_other_user() -> str | None:
    """An unprivileged account that can log in with a key (root only); None when not root."""
    if os.getuid() != 0:
        return None
    if subprocess.run(["id", OTHER_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--home-dir", "/tmp", "--no-create-home", "--shell", "/bin/sh", OTHER_USER],
                       check=True, capture_output=True)
    # A locked password ("!") makes sshd refuse even key logins without PAM; "*" is "no password".
    subprocess.run(["usermod", "-p", "*", OTHER_USER], check=True, capture_output=True)
    return OTHER_USER


@dataclass
class SshServer:
    directory: str
    port: int
    process: subprocess.Popen | None = None
    other_user: str | None = None

    @property
    def client_config(self) -> str:
        return os.path.join(self.directory, "ssh_config")

    @property
    def ssh_command(self) -> str:
        return f"ssh -F {self.client_config}"

    def environment(self) -> dict[str, str]:
        return {**os.environ, SSH_COMMAND_ENV: self.ssh_command}

    def shared_file(self, name: str, text: str) -> str:
        """A file, readable by everyone, under a directory every user can enter (a pytest tmp_path
        is owner-only, so the second user could not even reach a file there)."""
        path = os.path.join(self.directory, name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        os.chmod(os.path.dirname(path), 0o755)
        with open(path, "w") as file:
            file.write(text)
        os.chmod(path, 0o644)
        return path

    def start(self) -> None:
        log = open(os.path.join(self.directory, "sshd.log"), "ab")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(self.directory, "sshd_config")],
                                        stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.process.returncode}: see {self.directory}/sshd.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sshd did not start listening")

    def kill_everything(self) -> None:
        """The server and every session it serves, as when the machine's sshd is restarted hard."""
        if self.process is None:
            return
        for pid in [*_descendants(self.process.pid), self.process.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        self.process = None

    def restart(self, down_seconds: float = 1.5) -> None:
        self.kill_everything()
        time.sleep(down_seconds)  # reconnection attempts meanwhile meet "connection refused"
        self.start()

    def stop(self) -> None:
        self.kill_everything()
        shutil.rmtree(self.directory, ignore_errors=True)


def start_ssh_server() -> SshServer:
    if not os.path.exists(SSHD):
        raise RuntimeError(f"{SSHD} not found: install openssh-server (scripts/test.sh does, with apt-get)")
    # World-readable: sshd reads authorized_keys as the user logging in, who may be the other user.
    directory = tempfile.mkdtemp(prefix="trainwatch-sshd-")
    os.chmod(directory, 0o755)
    for name in ("host_key", "user_key", "other_key"):
        _keygen(os.path.join(directory, name))
    shutil.copy(os.path.join(directory, "user_key.pub"), os.path.join(directory, "authorized_keys"))
    os.chmod(os.path.join(directory, "authorized_keys"), 0o644)
    if os.getuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    port = free_port()
    with open(os.path.join(directory, "sshd_config"), "w") as config:
        config.write(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {directory}/host_key
AuthorizedKeysFile {directory}/authorized_keys
PidFile {directory}/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
MaxSessions 50
MaxStartups 50
LogLevel INFO
""")
    with open(os.path.join(directory, "host_key.pub")) as host_key:
        host_key_line = host_key.read().split()
    with open(os.path.join(directory, "known_hosts"), "w") as known:
        known.write(f"twtest-server {host_key_line[0]} {host_key_line[1]}\n")
    other_user = _ensure_other_user()
    with open(os.path.join(directory, "ssh_config"), "w") as config:
        config.write(f"""Host twtest-nohost
  HostName no-such-host.invalid
Host twtest-closed
  Port {free_port()}
Host *
  HostName 127.0.0.1
  Port {port}
  IdentitiesOnly yes
  UserKnownHostsFile {directory}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  HostKeyAlias twtest-server
  LogLevel ERROR
Host twtest-wrongkey
  User {getpass.getuser()}
  IdentityFile {directory}/other_key
Host twtest-other
  User {other_user or getpass.getuser()}
Host * !twtest-wrongkey
  User {getpass.getuser()}
  IdentityFile {directory}/user_key
""")
    for name in ("user_key", "other_key"):
        os.chmod(os.path.join(directory, name), 0o600)
    server = SshServer(directory, port, other_user=other_user)
    server.start()
    return server

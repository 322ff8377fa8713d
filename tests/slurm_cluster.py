"""A real single-node SLURM cluster for the tests: munged, slurmctld and slurmd from Debian's
``slurm-wlm`` and ``munge``, started in a temporary directory with ports of their own and a
generated slurm.conf (``proctrack/linuxproc``, ``task/none``, ``jobcomp/filetxt``, no accounting;
``cred_expire=10``, since SLURM holds a requeued job back for cred_expire + 1 seconds: 121 by default).
It takes a few seconds to start; `scripts/test.sh` installs the packages."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo", "srun")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SlurmCluster:
    def __init__(self, directory: str, cpus: int = 2) -> None:
        self.directory = directory
        self.cpus = cpus
        self.processes: list[subprocess.Popen] = []
        self.conf = os.path.join(directory, "slurm.conf")
        self.env = {**os.environ, "SLURM_CONF": self.conf}

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        d = self.directory
        for sub in ("state", "spool", "log", "munge"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, "munge"), 0o700)
        key = os.path.join(d, "munge", "munge.key")
        with open(key, "wb") as handle:
            handle.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self.munge_socket = os.path.join(d, "munge", "socket")
        self.processes.append(subprocess.Popen(
            ["munged", "-F", "-f", f"--key-file={key}", f"--socket={self.munge_socket}",
             f"--pid-file={d}/munge/pid", f"--log-file={d}/munge/log", f"--seed-file={d}/munge/seed"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        self._wait(lambda: os.path.exists(self.munge_socket), timeout, "munged's socket")
        host = socket.gethostname().split(".")[0]
        with open(self.conf, "w") as conf:
            conf.write(f"""ClusterName=twtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
AuthInfo=socket={self.munge_socket},cred_expire=10
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobCompType=jobcomp/filetxt
JobCompLoc={d}/jobcomp.txt
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
KillWait=5
Waittime=0
InactiveLimit=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        for daemon in ("slurmctld", "slurmd"):
            arguments = [daemon, "-D", "-f", self.conf] + (["-i"] if daemon == "slurmctld" else [])
            log = open(os.path.join(d, "log", f"{daemon}.out"), "ab")
            self.processes.append(subprocess.Popen(arguments, stdout=log, stderr=log, env=self.env))
        self._wait(self._node_idle, timeout, "the node to be idle")
        return self

    def _node_idle(self) -> bool:
        result = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the test SLURM cluster did not start: no {what} after {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "-u", os.environ.get("USER", "root")], env=self.env,
                       capture_output=True)
        for process in reversed(self.processes):
            process.terminate()
        for process in reversed(self.processes):
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def slurm_missing() -> str | None:
    missing = [name for name in BINARIES if shutil.which(name) is None]
    return f"not installed: {', '.join(missing)} (scripts/test.sh installs slurm-wlm and munge)" if missing else None

"""Which process of a multi-process run this is, and the one collective trainwatch uses in it.

Under ``torchrun`` (or Lightning's DDP, or Accelerate) every rank runs the same training script
and so the same integration. Rank 0 alone writes the event log and reads the control channel; at
each safe point the ranks exchange one small object (``torch.distributed.all_gather_object``
over the process group the training already has), so every rank applies the same command at the
same step (when nothing is pending, the exchange is one all_reduce of one number).

Stdlib only: torch.distributed is used when the training script has imported torch and
initialised a process group, never imported here otherwise.
"""
from __future__ import annotations

import atexit
import os
import socket
import sys
import threading
from typing import Any, Protocol

from trainers.runlog import PEER_GONE_TEXT


class Ranks(Protocol):
    rank: int  # global rank: 0 writes the event log and reads the control channel
    world_size: int

    def exchange(self, payload: Any) -> list[Any]:
        """Every rank's ``payload``, in rank order, on every rank (a collective: all ranks call it)."""

    def any(self, flag: bool) -> bool:
        """Is ``flag`` true on any rank? (a collective of one number: the safe point's usual cost)"""

    def barrier(self) -> None:
        """Wait until every rank is here."""


def env_rank() -> int:
    """This process's global rank as the launcher's environment tells it, before any process group
    exists: torchrun's RANK; Lightning's subprocess launcher's NODE_RANK/LOCAL_RANK (rank 0 is node 0,
    local rank 0); ``srun -n N``'s SLURM_PROCID. 0 for a single process."""
    for name in ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK"):
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    node, local = os.environ.get("NODE_RANK", "0"), os.environ.get("LOCAL_RANK", "0")
    if (node.isdigit() and int(node)) or (local.isdigit() and int(local)):
        return max(int(node) if node.isdigit() else 0, 1)  # not rank 0: which one only the group knows
    tasks, procid = os.environ.get("SLURM_NTASKS", "1"), os.environ.get("SLURM_PROCID", "0")
    if tasks.isdigit() and int(tasks) > 1 and procid.isdigit():
        return int(procid)
    return 0


def process_group_env_from_slurm(environ: dict[str, str] | None = None) -> dict[str, str]:
    """What ``torch.distributed``'s env:// rendezvous needs, from what ``srun`` gives each task
    (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the node srun was launched from), as Lightning's
    SLURMEnvironment does; nothing under torchrun (RANK already set) or outside an srun step.
    The port is derived from the job id, so every task of a job picks the same one."""
    environ = os.environ if environ is None else environ
    if "RANK" in environ or not environ.get("SLURM_PROCID", "").isdigit() or not environ.get("SLURM_STEP_ID"):
        return {}
    job = environ.get("SLURM_JOB_ID", "0")
    return {"RANK": environ["SLURM_PROCID"], "WORLD_SIZE": environ.get("SLURM_NTASKS", "1"),
            "LOCAL_RANK": environ.get("SLURM_LOCALID", "0"),
            "MASTER_ADDR": environ.get("MASTER_ADDR") or environ.get("SLURM_LAUNCH_NODE_IPADDR", "127.0.0.1"),
            "MASTER_PORT": environ.get("MASTER_PORT") or str(15000 + int(job) % 20000 if job.isdigit() else 29500)}


def launcher_world_size() -> int:
    """How many processes the launcher started (torchrun's and Lightning's WORLD_SIZE), 1 when it
    says nothing: a process group is then expected, and waited for before commands are applied."""
    value = os.environ.get("WORLD_SIZE", "1")
    return int(value) if value.isdigit() and int(value) > 0 else 1


class SingleProcess:
    """No process group (yet): the rank the environment says, exchanging with nobody."""

    def __init__(self, rank: int = 0) -> None:
        self.rank = rank
        self.world_size = 1

    def exchange(self, payload: Any) -> list[Any]:
        return [payload]

    def any(self, flag: bool) -> bool:
        return flag

    def barrier(self) -> None:
        pass


class TorchDistributedRanks:
    """The training's own torch.distributed default group (gloo or NCCL)."""

    def __init__(self, dist: Any) -> None:
        self.dist = dist
        self.rank = dist.get_rank()
        self.world_size = dist.get_world_size()
        torch = sys.modules["torch"]
        # NCCL reduces only CUDA tensors: the flag lives on this rank's GPU there.
        device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
        self._flag = torch.zeros(1, dtype=torch.int32, device=device)

    def any(self, flag: bool) -> bool:
        self._flag.fill_(int(flag))
        self.dist.all_reduce(self._flag, op=self.dist.ReduceOp.MAX)
        return bool(self._flag.item())

    def exchange(self, payload: Any) -> list[Any]:
        gathered: list[Any] = [None] * self.world_size
        self.dist.all_gather_object(gathered, payload)
        return gathered

    def barrier(self) -> None:
        self.dist.barrier()


def detect_ranks() -> Ranks:
    """The initialised torch.distributed group of more than one process, else this process alone
    at the rank its launcher's environment gives."""
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        return TorchDistributedRanks(dist)
    return SingleProcess(env_rank())


def process_identity() -> dict[str, Any]:
    """What ``run_start`` records of one rank: where it runs and on what device."""
    identity: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    local = os.environ.get("LOCAL_RANK", "")
    if local.isdigit():
        identity["local_rank"] = int(local)
    torch = sys.modules.get("torch")
    device = "cpu"
    if torch is not None:
        try:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                device = f"cuda:{torch.cuda.current_device()}"
        except Exception:  # a broken CUDA setup must not stop the training from starting
            pass
    identity["device"] = device
    return identity


PEER_WATCH_SECONDS = 0.5


def _gone(pid: int) -> bool:
    """No such process, or a zombie not yet reaped (Lightning's ranks are rank 0's children)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[:1] == ["Z"]
    except OSError:
        return True


class PeerWatch:
    """On rank 0: notices the first other rank on this machine whose process ends, and at exit
    (an unhandled error, as a rank whose peer died ends), unless the run finished, tells which."""

    def __init__(self, peers: list[tuple[int, int]], tell: Any) -> None:
        self.peers = peers  # (rank, pid)
        self.tell = tell  # tell(text): writes the text event
        self.first_gone: tuple[int, int] | None = None
        self.finished = threading.Event()
        threading.Thread(target=self._watch, name="trainwatch-peers", daemon=True).start()
        atexit.register(self._tell_at_exit)

    def _watch(self) -> None:
        while not self.finished.wait(PEER_WATCH_SECONDS):
            gone = next(((rank, pid) for rank, pid in self.peers if _gone(pid)), None)
            if gone is not None:
                self.first_gone = gone
                return

    def _tell_at_exit(self) -> None:
        # Only when an unhandled error ends this process (Python keeps it in sys.last_value by then):
        # a script that just forgot finish() ended normally, whatever its peers did.
        crashing = getattr(sys, "last_value", None) is not None
        if self.first_gone is None:  # the error came faster than the watch's next look
            self.first_gone = next(((rank, pid) for rank, pid in self.peers if _gone(pid)), None)
        if self.first_gone is not None and not self.finished.is_set() and crashing:
            rank, pid = self.first_gone
            self.tell(PEER_GONE_TEXT.format(rank=rank, pid=pid))


def watch_peers(identities: list[dict[str, Any]], tell: Any) -> PeerWatch | None:
    """A PeerWatch over the ranks that run on this machine (their pids mean something here)."""
    here = socket.gethostname()
    peers = [(rank, identity["pid"]) for rank, identity in enumerate(identities)
             if rank and identity.get("host") == here and isinstance(identity.get("pid"), int)]
    return PeerWatch(peers, tell) if peers else None

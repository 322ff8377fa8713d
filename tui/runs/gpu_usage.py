"""GPU utilisation and memory for the header, read with nvidia-smi on the machine the run is on.

The same small sh script (sh_scripts.gpu_script) runs here, in ``sh -s``, or over the run's
ssh connection, so a remote run shows its own machine's GPUs. A launched run's trainer leads its own process group; when
nvidia-smi lists processes of that group, only their GPUs are shown, else all of them.
A machine without nvidia-smi answers once and is not asked again.
"""
from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.runs.sh_scripts import MARK, gpu_script

# How often a live run's GPUs are read: nvidia-smi costs tens of milliseconds of CPU per call.
GPU_POLL_SECONDS = 5.0
GPU_QUERY_TIMEOUT_SECONDS = 10.0

GPU_SCRIPT = gpu_script()


class NoGpu(Exception):
    """The machine has no nvidia-smi: there is nothing to show, now or later."""


@dataclass(slots=True)
class GpuState:
    uuid: str
    utilization: float | None  # percent; None where the GPU does not report it (MIG slices)
    memory_used_mib: float | None
    memory_total_mib: float | None
    owners: set[int] = field(default_factory=set)  # process groups and ancestors of the processes computing on it


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # "[N/A]", "[Not Supported]"


def parse_gpu_report(output: str) -> list[GpuState]:
    """The script's output -> one GpuState per GPU. Raises NoGpu when there is no nvidia-smi;
    an nvidia-smi that failed (no driver loaded) reads as no GPUs, and is asked again later."""
    gpus: dict[str, GpuState] = {}
    section = ""
    for line in output.splitlines():
        if line.startswith(MARK + " "):
            section = line[len(MARK) + 1:].strip()
            if section == "nogpu":
                raise NoGpu("no nvidia-smi on this machine")
            if section == "failed":
                return []
            continue
        fields = [part.strip() for part in line.split(",")]
        if section == "gpus" and len(fields) == 4 and fields[0].startswith("GPU-"):
            uuid, utilization, used, total = fields
            gpus[uuid] = GpuState(uuid, _number(utilization), _number(used), _number(total))
        elif section == "apps" and len(fields) in (2, 3) and fields[1] in gpus:
            # "PGID,UUID,ANCESTOR ANCESTOR ...": a process is the run's by its group or an ancestor.
            owners = [fields[0], *(fields[2].split() if len(fields) == 3 else [])]
            gpus[fields[1]].owners.update(int(owner) for owner in owners if owner.isdigit())
    return list(gpus.values())


def describe_gpus(gpus: list[GpuState], run_group: int | None = None) -> str:
    """"GPU 87% · 12.1/79.6 GiB" for one, "4 GPUs 85% · 48/318 GiB" for several (mean use, total
    memory); only the run's own GPUs when nvidia-smi shows its processes on them."""
    mine = [gpu for gpu in gpus if run_group is not None and run_group in gpu.owners]
    shown = mine or gpus
    if not shown:
        return ""
    utilizations = [gpu.utilization for gpu in shown if gpu.utilization is not None]
    utilization = f"{sum(utilizations) / len(utilizations):.0f}%" if utilizations else "?%"
    used = [gpu.memory_used_mib for gpu in shown if gpu.memory_used_mib is not None]
    total = [gpu.memory_total_mib for gpu in shown if gpu.memory_total_mib is not None]
    memory = ""
    if used and total:
        digits = 1 if sum(total) < 200 * 1024 else 0
        memory = f" · {sum(used) / 1024:.{digits}f}/{sum(total) / 1024:.{digits}f} GiB"
    name = "GPU" if len(shown) == 1 else f"{len(shown)} GPUs"
    return f"{name} {utilization}{memory}"


def run_here(script: str) -> str:
    """Run a query script on this machine, as the ssh host runs it over there."""
    result = subprocess.run(["sh", "-s"], input=script.encode(), capture_output=True,
                            timeout=GPU_QUERY_TIMEOUT_SECONDS)
    return result.stdout.decode("utf-8", "replace")


def read_gpus(run_script: Callable[[str], str] = run_here, run_group: int | None = None) -> str:
    """The header's GPU text for the machine ``run_script`` runs on ("" when nothing to show).
    Raises NoGpu when it has no nvidia-smi, OSError or subprocess/ssh errors when asking failed."""
    return describe_gpus(parse_gpu_report(run_script(GPU_SCRIPT)), run_group)

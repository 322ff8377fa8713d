"""POSIX sh scripts for the machine a run is on, here (``sh -s``) or over ssh (tui/ssh/remote_scripts.py
holds the ones only a remote side needs): the quoting preamble, the marker the scripts answer with,
and the GPU query, so local and remote runs show their GPUs the same way.
"""
from __future__ import annotations

import shlex

# Lines a script prints to talk to us start with this; anything else (a chatty .bashrc)
# is skipped.
MARK = "@TW"


def assign(name: str, value: str | int | float) -> str:
    return f"{name}={shlex.quote(str(value))}"


def shell_script(assignments: list[str], body: str) -> str:
    return "LC_ALL=C; export LC_ALL\n" + "\n".join(assignments) + "\n{\n" + body.strip("\n") + "\n} </dev/null\n"


# The GPUs (uuid, use %, memory used/total MiB) and, for each process computing on them, its
# process group and its ancestors (torchrun's workers run in sessions of their own: a run is found
# as their ancestor); "@TW nogpu" without nvidia-smi, "@TW failed" when it cannot reach a driver.
_GPU_BODY = r'''
if ! command -v nvidia-smi >/dev/null 2>&1; then echo "@TW nogpu"; exit 0; fi
echo "@TW gpus"
nvidia-smi --query-gpu=uuid,utilization.gpu,memory.used,memory.total --format=csv,noheader,nounits 2>&1 \
  || echo "@TW failed"
echo "@TW apps"
nvidia-smi --query-compute-apps=pid,gpu_uuid --format=csv,noheader,nounits 2>/dev/null |
while IFS=, read -r tw_pid tw_uuid; do
  tw_pid=$(echo $tw_pid)
  tw_group=$(ps -o pgid= -p "$tw_pid" 2>/dev/null | tr -d ' ')
  tw_up=$tw_pid tw_chain= tw_depth=0
  while [ "$tw_depth" -lt 16 ]; do
    tw_up=$(ps -o ppid= -p "$tw_up" 2>/dev/null | tr -d ' ')
    case $tw_up in ''|0|1|*[!0-9]*) break ;; esac
    tw_chain="$tw_chain $tw_up" tw_depth=$((tw_depth + 1))
  done
  echo "${tw_group:--},$(echo $tw_uuid),$tw_chain"
done
'''


def gpu_script() -> str:
    return shell_script([], _GPU_BODY)

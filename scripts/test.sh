#!/usr/bin/env bash
# Install everything the tests need, then run them. This is the README's test command.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test || exit 1
# The terminal tests drive the real program in tmux; the remote tests start a real sshd on
# 127.0.0.1 and connect with the system ssh; the SLURM tests run munged, slurmctld and slurmd.
# Install what is missing, the Debian way.
packages=""
command -v tmux >/dev/null 2>&1 || packages="$packages tmux"
[ -x /usr/sbin/sshd ] || packages="$packages openssh-server"
command -v ssh >/dev/null 2>&1 || packages="$packages openssh-client"
# The SLURM tests start a real single-node cluster (tests/slurm_cluster.py).
for daemon in slurmctld slurmd; do [ -x /usr/sbin/$daemon ] || packages="$packages slurm-wlm"; done
[ -x /usr/sbin/munged ] || packages="$packages munge"
if [ -n "$packages" ]; then
    sudo_prefix=""; [ "$(id -u)" -ne 0 ] && sudo_prefix="sudo"
    packages=$(echo $packages | tr ' ' '\n' | sort -u | tr '\n' ' ')
    { $sudo_prefix apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_prefix apt-get install -y -qq $packages; } \
        >/dev/null || { echo "scripts/test.sh: could not install$packages (apt-get)" >&2; exit 1; }
fi
# The layers of tui/ (README, "Layout"): a wrong-way import fails the run before any test does.
.venv/bin/lint-imports --no-cache || exit 1
.venv/bin/python -m pytest tests "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit "$status"

#!/usr/bin/env bash
# Install everything the tests need, then run them. This is the README's test command.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test || exit 1
# The terminal test drives the real program in tmux; install it the Debian way when it is missing.
if ! command -v tmux >/dev/null 2>&1; then
    sudo_prefix=""; [ "$(id -u)" -ne 0 ] && sudo_prefix="sudo"
    { $sudo_prefix apt-get update -qq && $sudo_prefix apt-get install -y -qq tmux; } >/dev/null \
        || { echo "scripts/test.sh: could not install tmux (apt-get)" >&2; exit 1; }
fi
.venv/bin/python -m pytest tests "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit "$status"

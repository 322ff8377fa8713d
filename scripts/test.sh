#!/usr/bin/env bash
# Install everything the tests need, then run them. This is the README's test command.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh || exit 1
.venv/bin/python -m pytest tests "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no tests were collected" >&2; exit 1; }
exit "$status"

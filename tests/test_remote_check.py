"""`trainwatch check host:PATH` through the real test sshd (tests/ssh_server.py, the alias `twtest`):
the same JSON and exit code as a local check of the same file, for a log of every format family in
the corpus, and one clear line when the remote file is not there."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import SHARED
from tensorboard_logs import TensorBoardLog

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(target: str) -> tuple[int, str, str]:
    result = subprocess.run([sys.executable, "-m", "tui", "check", "--json", target], capture_output=True,
                            text=True, cwd=REPO, timeout=180)
    return result.returncode, result.stdout, result.stderr


def one_log_per_format() -> dict[str, str]:
    """The first corpus log of each format the local check names."""
    corpus = os.path.join(SHARED, "corpus")
    with open(os.path.join(corpus, "labels.jsonl")) as handle:
        files = [os.path.join(corpus, json.loads(line)["file"]) for line in handle if line.strip()]
    picked: dict[str, str] = {}
    for path in files:
        code, output, _ = check(path)
        if code in (0, 1):
            picked.setdefault(json.loads(output)["format"], path)
    return picked


def test_check_over_ssh_is_the_local_check_for_every_format(over_ssh, tmp_path):
    logs = one_log_per_format()
    TensorBoardLog(str(tmp_path / "tb")).write_steps(range(300))  # a binary format over the stream too
    logs["tensorboard_events"] = str(tmp_path / "tb")
    assert len(logs) >= 10, logs
    for format_name, path in logs.items():
        local_code, local_output, _ = check(path)
        remote_code, remote_output, remote_error = check(f"twtest:{path}")
        assert remote_code == local_code, (format_name, remote_error)
        local, remote = json.loads(local_output), json.loads(remote_output)
        assert remote.pop("source") == f"twtest:{local.pop('source')}", format_name
        assert remote == local, format_name


def test_check_over_ssh_of_a_missing_file_is_one_line(over_ssh, tmp_path):
    code, output, error = check(f"twtest:{tmp_path}/nothing.csv")
    assert code == 2 and not output
    assert len(error.strip().splitlines()) == 1 and "nothing.csv" in error

"""Shared paths and helpers: tests read the real corpus and seed fixtures beside the repository."""
from __future__ import annotations

import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(REPO), "shared")
CORPUS = os.path.join(SHARED, "corpus")
SEEDS = os.path.join(SHARED, "fixtures", "seeds")


def corpus_rows() -> list[dict]:
    with open(os.path.join(CORPUS, "labels.jsonl"), encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def corpus_path(corpus_id: str) -> str:
    row = next(r for r in corpus_rows() if r["id"] == corpus_id)
    return os.path.join(CORPUS, row["file"])


def seed_path(case: str) -> str:
    expected = json.load(open(os.path.join(SEEDS, "expected.json")))
    return os.path.join(SEEDS, case, expected[case]["file"])


@pytest.fixture
def python() -> str:
    return sys.executable


@pytest.fixture(autouse=True)
def isolated_user_config(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.config/trainwatch (themes, remembered choices, thresholds)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))


@pytest.fixture(scope="session")
def ssh_server():
    """A real sshd on 127.0.0.1 for the whole session (tests/ssh_server.py)."""
    from ssh_server import start_ssh_server

    server = start_ssh_server()
    yield server
    server.stop()


@pytest.fixture
def over_ssh(ssh_server, monkeypatch):
    """trainwatch's ssh uses the test server's client config (the host alias `twtest`)."""
    from tui.ssh.ssh_connection import SSH_COMMAND_ENV

    monkeypatch.setenv(SSH_COMMAND_ENV, ssh_server.ssh_command)
    return ssh_server

"""tui/'s packages are layers (README, "Layout"): import-linter's contracts in pyproject.toml hold."""
from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_the_layers_contract_holds_and_names_every_package():
    lint = os.path.join(os.path.dirname(sys.executable), "lint-imports")
    done = subprocess.run([lint, "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "tui's packages are layers KEPT" in done.stdout
    # Every package of tui/ is a layer of the contract: a new folder is placed, not left out of it.
    import tomllib
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as handle:
        layers = tomllib.load(handle)["tool"]["importlinter"]["contracts"][0]["layers"]
    packages = {f"tui.{name}" for name in os.listdir(os.path.join(REPO, "tui"))
                if os.path.isfile(os.path.join(REPO, "tui", name, "__init__.py")) and name != "presets"}
    assert packages | {"tui.cli"} == set(layers)

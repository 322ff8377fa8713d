"""Snapshots of the main view in every shipped theme, at 100x30 and 80x24, deterministic."""
from __future__ import annotations

import os

import pytest

from conftest import seed_path
from ui_helpers import frozen_copy, make_app, settle
from tui.view.theme_files import load_theme_specs

SHIPPED_THEMES = sorted(spec.name for spec in load_theme_specs()[0])


def test_three_themes_ship():
    assert {"trainwatch-dark", "trainwatch-light", "trainwatch-high-contrast"} <= set(SHIPPED_THEMES)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
@pytest.mark.parametrize("theme", SHIPPED_THEMES)
def test_main_view(snap_compare, tmp_path, theme, size):
    folder = tmp_path / "seed003_ctc_blank"
    folder.mkdir()
    app = make_app(frozen_copy(seed_path("seed003_ctc_blank"), folder), theme=theme)

    async def run_before(pilot) -> None:
        await settle(pilot, app)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


def test_main_view_with_output_panel(snap_compare, tmp_path):
    folder = tmp_path / "seed003_ctc_blank"
    folder.mkdir()
    app = make_app(frozen_copy(seed_path("seed003_ctc_blank"), folder))

    async def run_before(pilot) -> None:
        await settle(pilot, app)
        await pilot.press("o")

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)

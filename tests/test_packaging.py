"""trainwatch built into a wheel and installed in a fresh venv works as the checkout does, from anywhere.

The wheel is built from a copy of the source (nothing is written into the checkout), installed with
``--no-deps`` into a venv that borrows the dependencies from this one through a .pth file (no
package index needed), and run from an empty directory with PYTHONPATH unset, so nothing of the
checkout can stand in for what the wheel lacks: `check` on a seed log gives the checkout's answer
byte for byte, the presets are there, and the UI starts (headless under Pilot, and in a real
terminal), with its themes and with one of Textual's own themes.
"""
from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import sysconfig
import termios
import textwrap
import time
import zipfile

import pytest

from conftest import REPO, seed_path

tomllib = pytest.importorskip("tomllib")

# What a build reads: the source and the files pyproject.toml names.
BUILD_INPUTS = ("pyproject.toml", "README.md", "tui", "trainers", "themes")
SHIPPED_THEMES = {"trainwatch-dark.yaml", "trainwatch-light.yaml", "trainwatch-high-contrast.yaml"}

UI_SCRIPT = textwrap.dedent("""
    import asyncio, os, sys
    import tui
    from tui.app.app import TrainWatch
    from tui.view.theme_files import SHIPPED_THEMES_DIR

    async def main():
        app = TrainWatch(sys.argv[1], remember=False)
        async with app.run_test(size=(100, 30)) as pilot:
            for _ in range(400):
                if app.settled:
                    break
                await pilot.pause(0.05)
            assert app.settled, "nothing was read or drawn"
            names = sorted(name for name in app.available_themes if name.startswith("trainwatch-"))
            shown = app.theme
            app.theme = "textual-dark"  # a theme that knows nothing of trainwatch's colour roles
            await pilot.pause()
            print(tui.__file__, SHIPPED_THEMES_DIR, shown, app.theme, ",".join(names), app.theme_errors)

    asyncio.run(main())
""")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """The bin/ folder of a fresh venv with the wheel built from this checkout installed in it."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        path = os.path.join(REPO, name)
        if os.path.isdir(path):
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    wheels = work / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(source)], check=True, capture_output=True, timeout=300, cwd=str(work))
    (wheel,) = wheels.glob("trainwatch-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    site_packages = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip()
    # The dependencies are this venv's: a .pth line puts its site-packages after the new venv's own
    # (the editable trainwatch there is not picked up: .pth files in a folder a .pth line adds do not run).
    with open(os.path.join(site_packages, "dependencies.pth"), "w") as handle:
        handle.write(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)
    return str(venv / "bin")


def clean_env() -> dict[str, str]:
    """This environment without anything pointing back into the checkout."""
    env = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep)
                                  if not part.startswith(REPO))
    return env


def test_every_package_folder_is_listed_in_pyproject():
    """pyproject lists its packages (so themes/ can be mapped into tui): a new package folder must
    be added there, or the wheel would lack it."""
    listed = set(tomllib.load(open(os.path.join(REPO, "pyproject.toml"), "rb"))["tool"]["setuptools"]["packages"])
    on_disk = set()
    for top in ("tui", "trainers"):
        for folder, subfolders, files in os.walk(os.path.join(REPO, top)):
            subfolders[:] = [name for name in subfolders if name != "__pycache__"]
            if any(name.endswith((".py", ".yaml", ".tcss")) for name in files):
                on_disk.add(os.path.relpath(folder, REPO).replace(os.sep, "."))
    assert on_disk | {"tui.themes"} == listed


def test_every_colour_role_has_a_literal_default_equal_to_the_default_themes():
    """Textual's own themes (and an app whose theme files are missing) take the roles from
    ROLE_DEFAULTS: every role app.tcss uses has one, and they are the default theme's colours."""
    import re

    from tui.view.theme_files import DEFAULT_THEME, ROLE_DEFAULTS, SHIPPED_THEMES_DIR, load_theme_file

    css = open(os.path.join(REPO, "tui", "app", "app.tcss"), encoding="utf-8").read()
    textual_variables = {"accent", "background", "error", "foreground", "panel", "primary", "secondary",
                         "success", "surface", "warning", "boost"}
    used = {name for name in re.findall(r"\$([a-z][a-z-]*)", css) if name not in textual_variables}
    assert used and used <= set(ROLE_DEFAULTS)
    dark = load_theme_file(os.path.join(SHIPPED_THEMES_DIR, f"{DEFAULT_THEME}.yaml"))
    assert {role: dark.variables[role] for role in ROLE_DEFAULTS} == ROLE_DEFAULTS


def test_the_wheel_holds_the_themes_presets_and_css(installed):
    (wheel,) = (os.path.join(root, name) for root, _, names in os.walk(os.path.dirname(os.path.dirname(installed)))
                for name in names if name.endswith(".whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"tui/themes/{name}" for name in SHIPPED_THEMES} <= names
    assert {"tui/presets/regularize.yaml", "tui/presets/lower-lr.yaml", "tui/app/app.tcss"} <= names
    assert not [name for name in names if name.startswith(("tests/", "themes/"))]


def test_check_and_presets_from_the_installed_package(installed, tmp_path):
    log = seed_path("seed000_tcn_plateau")
    ours = subprocess.run([os.path.join(installed, "trainwatch"), "check", "--json", log], capture_output=True,
                          text=True, cwd=str(tmp_path), env=clean_env(), timeout=120)
    checkout = subprocess.run([os.path.join(os.path.dirname(sys.executable), "trainwatch"), "check", "--json", log],
                              capture_output=True, text=True, cwd=str(tmp_path), timeout=120)
    assert ours.returncode == checkout.returncode == 1, ours.stderr
    assert ours.stdout == checkout.stdout and '"plateau"' in ours.stdout and ours.stderr == ""
    presets = subprocess.run([os.path.join(installed, "trainwatch"), "presets"], capture_output=True, text=True,
                             cwd=str(tmp_path), env=clean_env(), timeout=60)
    assert presets.returncode == 0 and "regularize" in presets.stdout and presets.stderr == ""


def test_the_ui_starts_from_the_installed_package_with_every_theme(installed, tmp_path):
    result = subprocess.run([os.path.join(installed, "python"), "-c", UI_SCRIPT, seed_path("seed000_tcn_plateau")],
                            capture_output=True, text=True, cwd=str(tmp_path), env=clean_env(), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    module, themes_dir, shown, switched, names, errors = result.stdout.split()
    venv = os.path.dirname(installed)
    assert module.startswith(venv) and themes_dir.startswith(venv)  # nothing from the checkout
    assert shown == "trainwatch-dark" and switched == "textual-dark" and errors == "[]"
    assert names.split(",") == sorted(name.removesuffix(".yaml") for name in SHIPPED_THEMES)


def test_trainwatch_tail_from_the_installed_package_in_a_real_terminal(installed, tmp_path):
    """What failed before: the UI's CSS did not parse (``$metric-train`` undefined) in a wheel."""
    code, screen = run_until_shown([os.path.join(installed, "trainwatch"), "tail", seed_path("seed000_tcn_plateau")],
                                   "plateau", cwd=str(tmp_path))
    assert code == 0, screen[-3000:]
    assert "Error" not in screen and "Traceback" not in screen


def run_until_shown(argv: list[str], text: str, cwd: str, timeout: float = 60.0) -> tuple[int, str]:
    """Run ``argv`` on a 100x30 pseudo-terminal until ``text`` is on screen, then press q; its
    exit code and what it wrote."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary, cwd=cwd,
                               env={**clean_env(), "TERM": "xterm-256color"}, start_new_session=True)
    os.close(secondary)
    output = b""
    quit_sent = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    output += os.read(primary, 65536)
                except OSError:  # EIO: the program ended and closed the terminal
                    break
            if not quit_sent and text.encode() in output:
                os.write(primary, b"q")
                quit_sent = True
        code = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(primary)
    screen = output.decode("utf-8", "replace")
    assert quit_sent, f"{text!r} never showed:\n{screen[-3000:]}"
    return code, screen

"""Read theme files (YAML) from themes/ and the user's config folder into plain specs for Textual."""
from __future__ import annotations

import glob
import importlib.resources
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from tui.settings.user_config import config_dir
from tui.settings.yaml_documents import YamlDocumentError, key_text, read_yaml_file, value_text



def shipped_themes_dir() -> str:
    """Where the shipped theme files are: ``tui/themes/`` in an installed package (the wheel maps
    the top-level ``themes/`` there), else the checkout's ``themes/`` beside ``tui/`` (an editable
    install, or running from the source tree)."""
    installed = importlib.resources.files("tui").joinpath("themes")
    if installed.is_dir():
        return str(installed)
    return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "themes")


SHIPPED_THEMES_DIR = shipped_themes_dir()
DEFAULT_THEME = "trainwatch-dark"
# The Textual Theme fields a theme file may set.
COLOUR_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
                 "surface", "panel", "boost")
THEME_FIELDS = (*COLOUR_FIELDS, "dark", "luminosity_spread", "text_alpha")
# Every colour role the app's CSS uses, with the colour it has when a theme does not give it
# (Textual's built-in themes know nothing of them): the default theme's, written out here so that
# the CSS parses even with no theme file at all. The one place in tui/ with colours in it; a test
# keeps them equal to themes/trainwatch-dark.yaml. A theme file must give every role.
ROLE_DEFAULTS = {
    "metric-train": "#5aa9e6", "metric-val": "#f2a65a", "metric-lr": "#b48ef0", "metric-better": "#6cc070",
    "metric-worse": "#f0544f", "chart-marker": "#7f8fa6", "finding-critical": "#f0544f",
    "finding-warning": "#f4c542", "finding-info": "#5aa9e6", "decode-same": "#d8dee9",
    "decode-missing": "#f0544f", "decode-wrong": "#f2a65a", "decode-extra": "#b48ef0",
}
ROLE_VARIABLES = tuple(ROLE_DEFAULTS)


class ThemeFileError(Exception):
    """A theme file cannot be used; one line for the user."""


@dataclass
class ThemeSpec:
    name: str
    fields: dict = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    path: str = ""


def theme_dirs() -> list[str]:
    """Shipped themes first; the user's own (``~/.config/trainwatch/themes``) can add or override."""
    return [SHIPPED_THEMES_DIR, os.path.join(config_dir(), "themes")]


def load_theme_file(path: str) -> ThemeSpec:
    """The theme in a YAML file, its keys and value types checked (colours are checked by
    tui.app.textual_themes, with Textual's own parser); ThemeFileError (one line) otherwise."""
    try:
        document = read_yaml_file(path)
    except YamlDocumentError as error:
        raise ThemeFileError(f"{path}: cannot read theme ({error})") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str) or not document["name"]:
        raise ThemeFileError(f"{path}: a theme needs a 'name' and colour keys")
    unknown = set(document) - set(THEME_FIELDS) - {"name", "variables"}
    if unknown:
        raise ThemeFileError(f"{path}: unknown theme key(s) {', '.join(sorted(map(key_text, unknown)))}")
    if "primary" not in document:
        raise ThemeFileError(f"{path}: a theme needs a 'primary' colour")
    for key in COLOUR_FIELDS:
        if key in document and not isinstance(document[key], str):
            raise ThemeFileError(f"{path}: {key} must be a colour such as \"#5aa9e6\", got {value_text(document[key])}")
    if "dark" in document and not isinstance(document["dark"], bool):
        raise ThemeFileError(f"{path}: dark must be true or false, got {value_text(document['dark'])}")
    for key in ("luminosity_spread", "text_alpha"):
        value = document.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ThemeFileError(f"{path}: {key} must be a number from 0 to 1, got {value_text(value)}")
    variables = document.get("variables") or {}
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{path}: 'variables' must be a mapping")
    missing = [role for role in ROLE_VARIABLES if role not in variables]
    if missing:
        raise ThemeFileError(f"{path}: missing colour role(s) {', '.join(missing)}")
    for key, value in variables.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ThemeFileError(f"{path}: variables.{key_text(key)} must be a colour such as \"#5aa9e6\", "
                                 f"got {value_text(value)}")
    fields = {key: value for key, value in document.items() if key in THEME_FIELDS}
    return ThemeSpec(document["name"], fields, dict(variables), path)



def load_theme_specs(check: Callable[[ThemeSpec], object] | None = None) -> tuple[list[ThemeSpec], list[str]]:
    """Every usable theme file, and one error line per file that is not usable. ``check`` (the
    app's colour check) may refuse a spec with ThemeFileError: a refused user file then leaves the
    shipped theme of that name in place."""
    specs: dict[str, ThemeSpec] = {}
    errors: list[str] = []
    for directory in theme_dirs():
        for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
            try:
                spec = load_theme_file(path)
                if check is not None:
                    check(spec)
            except ThemeFileError as error:
                errors.append(str(error))
                continue
            specs[spec.name] = spec
    return list(specs.values()), errors

"""Read theme files (YAML) from themes/ and the user's config folder into plain specs for Textual."""
from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

import yaml

from tui.user_config import config_dir

SHIPPED_THEMES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "themes")
DEFAULT_THEME = "trainwatch-dark"
# The Textual Theme fields a theme file may set.
THEME_FIELDS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
                "surface", "panel", "boost", "dark", "luminosity_spread", "text_alpha")
# Every colour role the app's CSS uses; a theme file must give all of them.
ROLE_VARIABLES = ("metric-train", "metric-val", "metric-lr", "metric-better", "metric-worse", "chart-marker",
                  "finding-critical", "finding-warning", "finding-info", "decode-same", "decode-missing",
                  "decode-wrong", "decode-extra")


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
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError) as error:
        raise ThemeFileError(f"{path}: cannot read theme ({str(error).splitlines()[0]})") from None
    if not isinstance(document, dict) or not isinstance(document.get("name"), str):
        raise ThemeFileError(f"{path}: a theme needs a 'name' and colour keys")
    unknown = set(document) - set(THEME_FIELDS) - {"name", "variables"}
    if unknown:
        raise ThemeFileError(f"{path}: unknown theme key(s) {', '.join(sorted(unknown))}")
    variables = document.get("variables") or {}
    if not isinstance(variables, dict):
        raise ThemeFileError(f"{path}: 'variables' must be a mapping")
    missing = [role for role in ROLE_VARIABLES if role not in variables]
    if missing:
        raise ThemeFileError(f"{path}: missing colour role(s) {', '.join(missing)}")
    fields = {key: value for key, value in document.items() if key in THEME_FIELDS}
    return ThemeSpec(document["name"], fields, {str(k): str(v) for k, v in variables.items()}, path)


def load_theme_specs() -> tuple[list[ThemeSpec], list[str]]:
    """Every usable theme file, and one error line per file that is not usable."""
    specs: dict[str, ThemeSpec] = {}
    errors: list[str] = []
    for directory in theme_dirs():
        for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
            try:
                spec = load_theme_file(path)
            except ThemeFileError as error:
                errors.append(str(error))
                continue
            specs[spec.name] = spec
    return list(specs.values()), errors

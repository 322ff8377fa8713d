"""The user's config file: where it is, and remembering UI choices in it without losing anything."""
from __future__ import annotations

import os
import re

import yaml

CONFIG_FILE_NAME = "config.yaml"
_THEME_LINE_RE = re.compile(r"^theme\s*:.*$", re.MULTILINE)


def config_dir() -> str:
    """``$XDG_CONFIG_HOME/trainwatch``, by default ``~/.config/trainwatch``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "trainwatch")


def user_config_path() -> str:
    return os.path.join(config_dir(), CONFIG_FILE_NAME)


def read_user_config() -> dict:
    """The config as a mapping; empty when there is none or it cannot be read (the UI still starts)."""
    try:
        with open(user_config_path(), encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except (OSError, yaml.YAMLError):
        return {}
    return document if isinstance(document, dict) else {}


def remembered_theme() -> str | None:
    theme = read_user_config().get("theme")
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    """Set ``theme:`` in the config by editing that one line, so the user's comments and
    diagnosis thresholds stay exactly as they wrote them. The file is replaced atomically."""
    path = user_config_path()
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        text = ""
    line = f"theme: {yaml.safe_dump(name, default_style=None).splitlines()[0]}"
    if _THEME_LINE_RE.search(text):
        text = _THEME_LINE_RE.sub(line, text, count=1)
    else:
        text = text + ("" if not text or text.endswith("\n") else "\n") + line + "\n"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)

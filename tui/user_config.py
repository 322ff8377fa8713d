"""The user's config file: where it is, and remembering UI choices in it without losing anything."""
from __future__ import annotations

import math
import os
import re
import tempfile

import yaml

from tui.yaml_documents import YamlDocumentError, parse_yaml, read_yaml_text

CONFIG_FILE_NAME = "config.yaml"
_THEME_LINE_RE = re.compile(r"^theme\s*:.*$", re.MULTILINE)


class UserConfigError(Exception):
    """The user's config exists but cannot be used; the message is one line."""


def config_dir() -> str:
    """``$XDG_CONFIG_HOME/trainwatch``, by default ``~/.config/trainwatch``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "trainwatch")


def user_config_path() -> str:
    return os.path.join(config_dir(), CONFIG_FILE_NAME)


def read_user_config() -> dict:
    """The config as a mapping; empty when there is none, UserConfigError when it cannot be used."""
    return _read_config(user_config_path())[1]


def _read_config(path: str) -> tuple[str, dict]:
    """The config's text and its document (both empty when there is no config)."""
    try:
        text = read_yaml_text(path)
        document = parse_yaml(text)
    except YamlDocumentError as error:
        if error.missing:
            return "", {}
        raise UserConfigError(f"{path}: {error}") from None
    if document is None:
        return text, {}
    if not isinstance(document, dict):
        raise UserConfigError(f"{path}: expected a mapping of settings, found {type(document).__name__}")
    return text, document


def remembered_theme() -> str | None:
    """The theme last chosen; None when there is none or the config cannot be read (whoever reads
    the config for its thresholds says what is wrong with it)."""
    try:
        theme = read_user_config().get("theme")
    except UserConfigError:
        return None
    return theme if isinstance(theme, str) else None


def remember_theme(name: str) -> None:
    """Set ``theme:`` in the config by editing that one line, so the user's comments and diagnosis
    thresholds stay exactly as they wrote them. A config that cannot be read is left alone
    (UserConfigError). The file is replaced atomically."""
    path = user_config_path()
    text, document = _read_config(path)
    wanted = {**document, "theme": name}
    line = _theme_line(name)
    if _THEME_LINE_RE.search(text):
        edited = _THEME_LINE_RE.sub(lambda _: line, text, count=1)  # a function: no backslash escapes in the name
    else:
        edited = text + ("" if not text or text.endswith("\n") else "\n") + line + "\n"
    # The one-line edit cannot be trusted when the old value spanned lines or `theme:` was given
    # twice: then the whole document is written out (its comments are lost, none of its settings).
    if _parsed_or_none(edited) != wanted:
        edited = yaml.safe_dump(wanted, sort_keys=False, allow_unicode=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f"{CONFIG_FILE_NAME}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(edited)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _theme_line(name: str) -> str:
    """``theme: NAME`` on one line, quoted when the name needs it (``a: b``, ``#x``, a newline)."""
    line = yaml.safe_dump({"theme": name}, width=math.inf, allow_unicode=True).rstrip("\n")
    if len(line.splitlines()) != 1:
        line = "theme: " + yaml.safe_dump(name, default_style='"', width=math.inf).rstrip("\n")
    return line


def _parsed_or_none(text: str):
    try:
        return parse_yaml(text)
    except YamlDocumentError:
        return None

"""The user's config file: where it is, and remembering UI choices in it without losing anything."""
from __future__ import annotations

import os
import tempfile

from tui.settings.yaml_documents import EditableYaml, YamlDocumentError, dump_yaml, parse_yaml, read_yaml_text

CONFIG_FILE_NAME = "config.yaml"


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
    """The config's text and its document as plain values (both empty when there is no config)."""
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


def configured_hosts() -> tuple[list[str], list[str]]:
    """The ``hosts:`` list (``gpu1:``, ``me@gpu2:/scratch/runs``) whose runs the runs screen and
    ``ls`` show beside this machine's, and one-line problems with it."""
    try:
        hosts = read_user_config().get("hosts", [])
    except UserConfigError as error:
        return [], [str(error)]
    if not isinstance(hosts, list) or not all(isinstance(host, str) and ":" in host for host in hosts):
        return [], [f"{user_config_path()}: 'hosts' must be a list of host:PATH (host: for ~/runs)"]
    return hosts, []


def remember_theme(name: str) -> None:
    """Set ``theme:`` in the config by replacing that value's characters (or adding the line), so
    the user's comments, anchors and diagnosis thresholds stay exactly as they wrote them
    (ruamel.yaml spells the name, quoted when it needs it). A config that cannot be read is left
    alone (UserConfigError). The file is replaced atomically."""
    path = user_config_path()
    text, document = _read_config(path)
    wanted = {**document, "theme": name}
    edited = _round_trip_edit(text, name)
    # An edit that does not read back as the settings plus the theme (`theme:` in a flow mapping
    # the added line cannot join) is not trusted: then the settings are written out plain (the
    # comments are lost, none of the settings).
    if edited is None or _parsed_or_none(edited) != wanted:
        try:
            edited = dump_yaml(wanted)
        except YamlDocumentError as error:
            raise UserConfigError(f"{path}: {error}") from None
    os.makedirs(os.path.dirname(path), exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f"{CONFIG_FILE_NAME}.", suffix=".tmp", dir=os.path.dirname(path))
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(edited)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _round_trip_edit(text: str, name: str) -> str | None:
    """``text`` with ``theme: NAME`` set (a line added at the end when it has none); None when it
    cannot be written back."""
    try:
        config = EditableYaml(text)
        if config.data is None or "theme" not in config.data:  # the line follows what is there
            return text + ("" if not text or text.endswith("\n") else "\n") + dump_yaml({"theme": name})
        config.set(config.data, "theme", name)
        return config.text()
    except YamlDocumentError:
        return None


def _parsed_or_none(text: str):
    try:
        return parse_yaml(text)
    except YamlDocumentError:
        return None

"""Presets: named hyperparameter changes in YAML, applied to a run's command for a restart.

A preset file (shipped in ``tui/presets/``, the user's own in ``~/.config/trainwatch/presets/``,
which win on a name clash)::

    description: stronger regularization against overfitting
    changes:
      dropout: {set: 0.5}
      weight_decay: {scale: 10, at_least: 1.0e-4}
      warmup: {set: 2, optional: true}     # skipped, not refused, when the command has none
    resume: best                           # the default checkpoint to resume from: none, last, best

A key is looked for as a flag in the command (``--lr 0.1``, ``--learning_rate=0.1``, aliases
below) and, failing that, as a key anywhere in a YAML config the command is given; the edited config
is written into the new run directory and the command points at it, its comments, anchors and
other values as they were written (a round trip through ruamel.yaml). A key found nowhere refuses
the preset unless marked optional: a preset that silently changes nothing is worse than an error.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

from tui.model.number_format import command_text
from tui.settings.user_config import config_dir
from tui.settings.yaml_documents import (EditableYaml, YamlDocumentError, is_number, own_items, read_yaml_file, read_yaml_text,
                                         value_text)

SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "presets")
RESUME_CHOICES = ("none", "last", "best")
# The names a hyperparameter goes by in people's scripts and configs ("-" and "_" are the same).
KEY_ALIASES = {
    "lr": ("lr", "learning_rate", "base_lr", "lr0", "init_lr", "initial_lr"),
    "weight_decay": ("weight_decay", "wd", "l2", "l2_reg"),
    "dropout": ("dropout", "dropout_rate", "drop_rate", "dropout_prob", "hidden_dropout_prob", "dropout_p"),
    "warmup": ("warmup", "warmup_epochs", "warmup_steps"),
    "freeze": ("freeze", "freeze_layers", "freeze_early_layers", "freeze_encoder"),
    "hidden": ("hidden", "hidden_size", "hidden_dim", "d_model", "units", "n_embd", "width"),
    "layers": ("layers", "num_layers", "n_layers", "n_layer", "depth"),
    "context": ("context", "context_length", "context_frames", "seq_len", "max_len", "block_size",
                "max_seq_length", "window"),
}
RESUME_FLAGS = ("resume", "resume_from", "resume_from_checkpoint", "resume_checkpoint")
CONFIG_SUFFIXES = (".yaml", ".yml")


class PresetError(Exception):
    """A preset that cannot be read, or cannot be applied to this command."""


@dataclass(slots=True)
class PresetChange:
    key: str
    set: float | None = None
    scale: float | None = None
    at_least: float | None = None
    integer: bool = False
    optional: bool = False

    def new_value(self, old: float | None) -> float:
        if self.set is not None:
            value = self.set
        else:
            value = (old or 0.0) * float(self.scale or 1.0)
        if self.at_least is not None:
            value = max(value, self.at_least)
        return float(round(value)) if self.integer else value

    def describe(self) -> str:
        if self.set is not None:
            return f"{self.key} = {command_text(self.set, self.integer)}"
        text = f"{self.key} x{self.scale:g}"
        return text + (f" (at least {command_text(self.at_least, self.integer)})" if self.at_least is not None else "")


@dataclass(slots=True)
class Preset:
    name: str
    description: str
    changes: list[PresetChange]
    resume: str = "last"
    source: str = ""

    def summary(self) -> str:
        return ", ".join(change.describe() for change in self.changes)


def _aliases(key: str) -> set[str]:
    names = KEY_ALIASES.get(key, (key,))
    return {name.replace("-", "_").lower() for name in names}


def _number(value: Any, where: str, key: str) -> float:
    try:
        number = float(value) if is_number(value) else math.nan
    except OverflowError:  # an int too large for a float
        number = math.inf
    if not math.isfinite(number):
        raise PresetError(f"{where}: {key} needs a number, got {value_text(value)}")
    return number


def parse_preset(name: str, document: Any, source: str = "") -> Preset:
    where = source or name
    if not isinstance(document, dict) or not isinstance(document.get("changes"), dict) or not document["changes"]:
        raise PresetError(f"{where}: a preset needs a 'changes:' mapping of hyperparameters")
    changes = []
    for key, spec in document["changes"].items():
        if not isinstance(key, str):
            raise PresetError(f"{where}: changes: {value_text(key)} is not a hyperparameter name")
        spec = {"set": spec} if isinstance(spec, (int, float)) and not isinstance(spec, bool) else spec
        if not isinstance(spec, dict) or ("set" in spec) == ("scale" in spec):
            raise PresetError(f"{where}: {key} needs exactly one of 'set: VALUE' or 'scale: FACTOR'")
        unknown = set(spec) - {"set", "scale", "at_least", "integer", "optional"}
        if unknown:
            raise PresetError(f"{where}: {key} has unknown settings {', '.join(sorted(map(value_text, unknown)))}")
        change = PresetChange(key, integer=bool(spec.get("integer")), optional=bool(spec.get("optional")))
        for setting in ("set", "scale", "at_least"):
            if setting in spec:
                setattr(change, setting, _number(spec[setting], where, f"{key}.{setting}"))
        if change.scale is not None and change.scale <= 0:
            raise PresetError(f"{where}: {key}.scale must be positive")
        changes.append(change)
    resume = document.get("resume", "last")
    if resume not in RESUME_CHOICES:
        raise PresetError(f"{where}: resume must be one of {', '.join(RESUME_CHOICES)}, got {value_text(resume)}")
    description = document.get("description", "")
    if not isinstance(description, str):
        raise PresetError(f"{where}: description must be text, got {value_text(description)}")
    return Preset(name, description, changes, resume, source)


def user_presets_dir() -> str:
    return os.path.join(config_dir(), "presets")


def load_presets() -> tuple[dict[str, Preset], list[str]]:
    """Every preset by name (the user's override shipped ones), and one line per file that failed."""
    presets: dict[str, Preset] = {}
    problems: list[str] = []
    for directory in (SHIPPED_DIR, user_presets_dir()):
        if not os.path.isdir(directory):
            continue
        for file_name in sorted(os.listdir(directory)):
            if not file_name.endswith(CONFIG_SUFFIXES):
                continue
            path = os.path.join(directory, file_name)
            name = os.path.splitext(file_name)[0]
            try:
                presets[name] = parse_preset(name, read_yaml_file(path), path)
            except YamlDocumentError as error:
                problems.append(f"{path}: unreadable preset ({error})")
            except PresetError as error:
                problems.append(str(error))
    return presets, problems


def get_preset(name: str) -> Preset:
    presets, _ = load_presets()
    if name not in presets:
        raise PresetError(f"unknown preset {name!r}; presets: {', '.join(sorted(presets)) or 'none'}")
    return presets[name]


# Applying a preset to a command --------------------------------------------------------------------

@dataclass
class RestartPlan:
    """The new command, the files to write into the new run directory, and the diff to show."""

    command: list[str]
    files: dict[str, str] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _flag_positions(command: list[str], names: set[str]) -> list[tuple[int, bool]]:
    """Where a flag's value is: (index, inline) for ``--name=V`` (inline) or ``--name V``."""
    found = []
    for index, part in enumerate(command):
        if not part.startswith("--") or index == 0:
            continue
        flag, equals, _ = part[2:].partition("=")
        if flag.replace("-", "_").lower() not in names:
            continue
        if equals:
            found.append((index, True))
        elif index + 1 < len(command):
            found.append((index + 1, False))
    return found


def _flag_value(command: list[str], index: int, inline: bool) -> str:
    return command[index].partition("=")[2] if inline else command[index]


def _set_flag_value(command: list[str], index: int, inline: bool, text: str) -> None:
    command[index] = f"{command[index].partition('=')[0]}={text}" if inline else text


def _config_files(command: list[str], cwd: str) -> list[tuple[int, str]]:
    found = []
    for index, part in enumerate(command[1:], 1):
        candidate = part.partition("=")[2] if part.startswith("--") and "=" in part else part
        if candidate.endswith(CONFIG_SUFFIXES):
            path = candidate if os.path.isabs(candidate) else os.path.join(cwd, candidate)
            if os.path.isfile(path):
                found.append((index, path))
    return found


def _find_in_config(document: Any, names: set[str], seen: set[int] | None = None) -> list[tuple[dict, str]]:
    """Every (mapping, key) in a nested YAML document whose key is one of ``names``; a mapping
    reached again through an alias, or a key merged in with ``<<: *base``, is found once, where
    it is written, so the value is changed once."""
    seen = set() if seen is None else seen
    if id(document) in seen:
        return []
    hits = []
    if isinstance(document, dict):
        seen.add(id(document))
        for key, value in own_items(document):
            if isinstance(key, str) and key.replace("-", "_").lower() in names and not isinstance(value, (dict, list)):
                hits.append((document, key))
            hits.extend(_find_in_config(value, names, seen))
    elif isinstance(document, list):
        seen.add(id(document))
        for item in document:
            hits.extend(_find_in_config(item, names, seen))
    return hits


def plan_restart(command: list[str], cwd: str, preset: Preset, resume_path: str | None = None) -> RestartPlan:
    """Apply ``preset`` to ``command``; raises PresetError when a required key matches nothing."""
    new_command = list(command)
    plan = RestartPlan(new_command)
    configs: list[tuple[int, str, EditableYaml]] = []
    for index, path in _config_files(command, cwd):
        try:
            configs.append((index, path, EditableYaml(read_yaml_text(path))))
        except YamlDocumentError as error:
            raise PresetError(f"{path}: cannot read the command's config ({error})") from None
    edited: set[int] = set()
    for change in preset.changes:
        names = _aliases(change.key)
        positions = _flag_positions(new_command, names)
        if positions:
            for index, inline in positions:
                raw = _flag_value(new_command, index, inline)
                try:
                    old = float(raw)
                except ValueError:
                    raise PresetError(f"preset {preset.name!r}: {new_command[index - (0 if inline else 1)]} "
                                      f"has a value {raw!r} that is not a number") from None
                new = change.new_value(old)
                text = command_text(new, change.integer)
                _set_flag_value(new_command, index, inline, text)
                flag = new_command[index].partition("=")[0] if inline else new_command[index - 1]
                plan.changes.append(f"{flag}: {raw} -> {text}")
            continue
        hits = [(position, path, config, mapping, key) for position, path, config in configs
                for mapping, key in _find_in_config(config.data, names)]
        if hits:
            for position, path, config, mapping, key in hits:
                old_value = mapping[key]
                old = None if old_value is None else _number(old_value, path, key)
                new = change.new_value(old)
                config.set(mapping, key, int(new) if change.integer else new)
                edited.add(position)
                plan.changes.append(f"{os.path.basename(path)}: {key}: {old_value} -> {command_text(new, change.integer)}")
            continue
        if change.optional:
            plan.skipped.append(f"{change.key}: not in the command (optional, skipped)")
            continue
        others = sorted(names - {change.key})
        also = f" (nor {', '.join('--' + name for name in others[:3])})" if others else ""
        raise PresetError(f"preset {preset.name!r} changes {change.key}, but the command has no --{change.key} flag"
                          f"{also} and no YAML config with that key")
    for position, path, config in configs:
        if position in edited:
            file_name = os.path.basename(path)
            try:
                plan.files[file_name] = config.text()
            except YamlDocumentError as error:
                raise PresetError(f"{path}: the edited config {error}") from None
            part = new_command[position]
            target = "{run_dir}/" + file_name
            new_command[position] = f"{part.partition('=')[0]}={target}" if part.startswith("--") and "=" in part else target
    _apply_resume(new_command, plan, resume_path)
    return plan


def _apply_resume(command: list[str], plan: RestartPlan, resume_path: str | None) -> None:
    """Point a ``--resume`` flag the command already has at the chosen checkpoint. Otherwise the
    checkpoint reaches the trainer as TRAINWATCH_RESUME (the reference trainers read it)."""
    positions = _flag_positions(command, set(RESUME_FLAGS))
    for index, inline in positions:
        old = _flag_value(command, index, inline)
        new = resume_path or ""
        if old != new:
            _set_flag_value(command, index, inline, new)
            plan.changes.append(f"resume: {old or '(none)'} -> {new or '(none)'}")
    if not positions:
        plan.changes.append(f"resume from: {resume_path or 'none (fresh start)'}")

"""Diagnosis thresholds: documented defaults that a user's YAML config can override."""
from __future__ import annotations

import copy
import math
import sys
from dataclasses import dataclass
from typing import Any

from tui.settings.user_config import UserConfigError, read_user_config, user_config_path
from tui.settings.yaml_documents import YamlDocumentError, key_text, read_yaml_file, value_text

# Every threshold the rules use. `trainwatch check --config FILE` or the user's config.yaml (tui.settings.user_config)
# may override any of them under a top-level `diagnosis:` key, e.g.
#   diagnosis:
#     plateau: {patience_fraction: 0.3}
DEFAULTS: dict[str, dict[str, Any]] = {
    # smoothing_short/long and long_series: no rule smooths any more (each judges against the
    # metric's noise); kept so that configs which set them still load.
    "common": {"min_evals": 5, "smoothing_short": 0.3, "smoothing_long": 0.6, "long_series": 30},
    # noise_multiple: how many noise-widths (signal.margin: sqrt 2 x the robust noise, widened for short
    # series) a change must exceed; min_rise / min_relative_delta / min_train_gain: floors as a share of
    # the level, for curves printed so coarsely that their noise reads as zero.
    "overfitting": {"min_evals_after_best": 3, "min_rise": 0.005, "noise_multiple": 1.0, "min_train_gain": 0.01},
    "plateau": {"min_evals": 6, "patience_fraction": 0.1, "min_patience": 5, "max_patience": 1000, "noise_multiple": 1.0,
                "min_relative_delta": 0.001, "train_window_change": 0.02, "train_min_points": 8,
                "train_prior_gain": 0.1},
    "no_learning": {"noise_multiple": 1.0, "min_relative_gain": 0.001, "train_min_gain": 0.05, "train_min_points": 10},
    "divergence": {"rise_factor": 1.5, "min_rise_of_drop": 0.2, "noise_multiple": 1.0, "sustained_fraction": 0.4, "explosion_factor": 3.0,
                   "negative_fraction": 0.25},
    "blank_collapse": {"short_ratio": 0.3, "short_fraction": 0.5, "distinct_ratio": 0.3, "min_samples": 10,
                       "high_error": 0.8, "stuck_error": 0.99, "stuck_evals": 5, "early_epochs": 2},
    # RUBRIC.md: no gain for 6+ evaluations after the cut, or to the end if at least 4; the wasted
    # stretch always runs to the end of the run here, so 4.
    "lr_wasted": {"cut_ratio": 0.7, "min_evals_after_cut": 4, "noise_multiple": 1.0},
    "lr_oscillation": {"jump_ratio": 2.0, "min_restarts": 2},
    "resume_collapse": {"first_evals": 3, "max_drop": 0.3, "max_rise": 0.5},
    "small_val_set": {"max_samples": 100, "min_distinct": 4, "tolerance": 1e-4},
    "class_imbalance": {"min_spread": 0.4, "max_worst": 0.5},
    "unstable_val": {"min_evals": 6, "min_swing": 0.1, "min_swing_fraction": 0.08, "train_ratio": 3.0},
    "data_warning": {},
    # The other ranks wait for one rank at least min_share of a step, and at least min_seconds.
    "straggler": {"min_share": 0.2, "min_seconds": 0.001},
}



@dataclass(frozen=True)
class Allowed:
    """The values a threshold may take: finite, within bounds, a whole number for counts."""

    low: float
    high: float = math.inf
    low_open: bool = False  # the bound itself is refused
    high_open: bool = False
    whole: bool = False

    def admits(self, value: float) -> bool:
        if not math.isfinite(value) or (self.whole and value != int(value)):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = f"above {self.low:g}" if self.low_open else f"at least {self.low:g}"
        if math.isinf(self.high):
            return f"{kind} {low}"
        high = f"below {self.high:g}" if self.high_open else f"at most {self.high:g}"
        return f"{kind} {low} and {high}"


# What each threshold means in its rule (tui/diagnosis/rules_*.py) decides its range: outside it a
# rule divides by zero (a smoothing weight of 1, a jump ratio of 0), loops without end (max_samples
# of 1e12), fires on every run (a cut ratio of 1, a short fraction of 0) or never can.
COUNT = Allowed(1, 1e9, whole=True)  # evaluations, points, samples, restarts
FRACTION = Allowed(0, 1)  # a share of the evaluations, of the samples, of a value
SHARE = Allowed(0, 1, low_open=True)  # a share that at 0 would count everything
SMOOTHING = Allowed(0, 1, high_open=True)  # an EMA weight: 1 never moves (and divides by zero)
MULTIPLE = Allowed(0, 1e6)  # of the noise level
POSITIVE = Allowed(0, 1e6, low_open=True)
FACTOR = Allowed(1, 1e6, low_open=True)  # a ratio that must exceed 1 to mean a rise
ALLOWED: dict[str, dict[str, Allowed]] = {
    "common": {"min_evals": COUNT, "smoothing_short": SMOOTHING, "smoothing_long": SMOOTHING, "long_series": COUNT},
    "overfitting": {"min_evals_after_best": COUNT, "min_rise": POSITIVE, "noise_multiple": MULTIPLE,
                    "min_train_gain": FRACTION},
    "plateau": {"min_evals": COUNT, "patience_fraction": FRACTION, "min_patience": COUNT, "max_patience": COUNT,
                "noise_multiple": MULTIPLE, "min_relative_delta": FRACTION, "train_window_change": FRACTION,
                # quarters of the training curve are compared: fewer than 2 points leave one empty
                "train_min_points": Allowed(2, 1e9, whole=True), "train_prior_gain": POSITIVE},
    "no_learning": {"noise_multiple": MULTIPLE, "min_relative_gain": FRACTION, "train_min_gain": FRACTION,
                    "train_min_points": COUNT},
    "divergence": {"rise_factor": FACTOR, "min_rise_of_drop": MULTIPLE, "noise_multiple": MULTIPLE, "sustained_fraction": FRACTION,
                   "explosion_factor": FACTOR, "negative_fraction": SHARE},
    "blank_collapse": {"short_ratio": FRACTION, "short_fraction": SHARE, "distinct_ratio": FRACTION,
                       "min_samples": COUNT, "high_error": SHARE, "stuck_error": SHARE, "stuck_evals": COUNT,
                       "early_epochs": Allowed(0, 1e9)},
    "lr_wasted": {"cut_ratio": Allowed(0, 1, low_open=True, high_open=True), "min_evals_after_cut": COUNT,
                  "noise_multiple": MULTIPLE},
    "lr_oscillation": {"jump_ratio": FACTOR, "min_restarts": COUNT},
    "resume_collapse": {"first_evals": COUNT, "max_drop": SHARE, "max_rise": POSITIVE},
    # every n up to max_samples is tried as the validation set's size
    "small_val_set": {"max_samples": Allowed(2, 100_000, whole=True), "min_distinct": COUNT,
                      "tolerance": Allowed(0, 0.01)},
    "class_imbalance": {"min_spread": SHARE, "max_worst": FRACTION},
    # the first two evaluations are skipped: fewer than 3 leave nothing to measure
    "unstable_val": {"min_evals": Allowed(3, 1e9, whole=True), "min_swing": POSITIVE,
                     "min_swing_fraction": FRACTION, "train_ratio": Allowed(1, 1e6)},
    "data_warning": {},
    "straggler": {"min_share": SHARE, "min_seconds": Allowed(0, 1e6)},
}


class ConfigError(Exception):
    """The config file cannot be used; the message is one line."""


def load_thresholds(path: str | None = None) -> dict[str, dict[str, Any]]:
    """Defaults, overridden by the YAML file at ``path``, or else by the user's config. A ``path``
    that cannot be used is a ConfigError; the user's config is only warned about (one line on
    stderr), so a broken config.yaml does not stop every command."""
    if not path:
        try:
            return thresholds_from(read_user_config(), user_config_path())
        except (UserConfigError, ConfigError) as error:
            print(f"trainwatch: warning: {error}; using the default diagnosis thresholds", file=sys.stderr)
            return copy.deepcopy(DEFAULTS)
    try:
        document = read_yaml_file(path)
    except YamlDocumentError as error:
        raise ConfigError(f"{path}: cannot read config ({error})") from None
    return thresholds_from(document, path)


def thresholds_from(document: Any, where: str) -> dict[str, dict[str, Any]]:
    """The defaults with a config document's ``diagnosis:`` overrides, each checked against ALLOWED."""
    thresholds = copy.deepcopy(DEFAULTS)
    if document is None:
        return thresholds
    overrides = document.get("diagnosis", {}) if isinstance(document, dict) else None
    if not isinstance(overrides, dict):
        raise ConfigError(f"{where}: 'diagnosis' must be a mapping of rule -> thresholds")
    for rule, values in overrides.items():
        if rule not in thresholds or not isinstance(values, dict):
            raise ConfigError(f"{where}: unknown diagnosis rule {value_text(rule)}")
        for key, value in values.items():
            if key not in thresholds[rule]:
                raise ConfigError(f"{where}: unknown threshold {rule}.{key_text(key)}")
            allowed = ALLOWED[rule][key]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not allowed.admits(_as_float(value)):
                raise ConfigError(f"{where}: {rule}.{key} must be {allowed.describe()}, got {value_text(value)}")
            thresholds[rule][key] = value
    return thresholds


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int too large for a float is past every bound
        return math.inf


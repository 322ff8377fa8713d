"""Diagnosis thresholds: documented defaults that a user's YAML config can override."""
from __future__ import annotations

import copy
import os
from typing import Any

import yaml

from tui.user_config import user_config_path

# Every threshold the rules use. `trainwatch check --config FILE` or the user's config.yaml (tui.user_config)
# may override any of them under a top-level `diagnosis:` key, e.g.
#   diagnosis:
#     plateau: {patience_fraction: 0.3}
DEFAULTS: dict[str, dict[str, Any]] = {
    "common": {"min_evals": 5, "smoothing_short": 0.3, "smoothing_long": 0.6, "long_series": 30},
    "overfitting": {"min_evals_after_best": 3, "decoupled_min_gain": 0.03, "min_rise": 0.05, "noise_multiple": 2.0,
                    "min_train_gain": 0.05, "gap_growth": 1.25, "gap_patience_fraction": 0.25},
    "plateau": {"min_evals": 8, "patience_fraction": 0.1, "min_patience": 5, "max_patience": 20, "noise_multiple": 2.0,
                "min_relative_delta": 0.001, "train_window_change": 0.02, "train_min_points": 8,
                "train_prior_gain": 0.1},
    "no_learning": {"early_best_fraction": 0.1, "train_min_gain": 0.05, "train_min_points": 10},
    "divergence": {"rise_factor": 1.5, "min_rise_of_drop": 0.2, "sustained_fraction": 0.4, "explosion_factor": 3.0,
                   "negative_fraction": 0.25},
    "blank_collapse": {"short_ratio": 0.3, "short_fraction": 0.5, "distinct_ratio": 0.3, "min_samples": 10,
                       "high_error": 0.8, "stuck_error": 0.99, "stuck_evals": 5, "early_epochs": 2},
    "lr_wasted": {"cut_ratio": 0.7, "min_evals_after_cut": 6, "noise_multiple": 1.0},
    "lr_oscillation": {"jump_ratio": 2.0, "min_restarts": 2},
    "resume_collapse": {"first_evals": 3, "max_drop": 0.3, "max_rise": 0.5},
    "small_val_set": {"max_samples": 100, "min_distinct": 4, "tolerance": 1e-4},
    "class_imbalance": {"min_spread": 0.4, "max_worst": 0.5},
    "unstable_val": {"min_evals": 8, "min_swing": 0.1, "min_swing_fraction": 0.08, "train_ratio": 4.0},
    "data_warning": {},
}



class ConfigError(Exception):
    """The config file cannot be used; the message is one line."""


def load_thresholds(path: str | None = None) -> dict[str, dict[str, Any]]:
    """Defaults, overridden by the YAML file at ``path`` (or the user's config when it exists)."""
    thresholds = copy.deepcopy(DEFAULTS)
    default_path = user_config_path()
    path = path or (default_path if os.path.exists(default_path) else None)
    if not path:
        return thresholds
    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read config ({str(error).splitlines()[0]})") from None
    overrides = document.get("diagnosis", {}) if isinstance(document, dict) else None
    if not isinstance(overrides, dict):
        raise ConfigError(f"{path}: 'diagnosis' must be a mapping of rule -> thresholds")
    for rule, values in overrides.items():
        if rule not in thresholds or not isinstance(values, dict):
            raise ConfigError(f"{path}: unknown diagnosis rule {rule!r}")
        for key, value in values.items():
            if key not in thresholds[rule]:
                raise ConfigError(f"{path}: unknown threshold {rule}.{key}")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ConfigError(f"{path}: {rule}.{key} must be a number")
            thresholds[rule][key] = value
    return thresholds

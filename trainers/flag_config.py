"""Hyperparameters from flags, or from a YAML config whose keys are the flag names.

The reference trainers take both so that a preset can change either: a flag in the command, or a
key of the config the command is given. Flags on the command line win over the config.
"""
from __future__ import annotations

import argparse

# What a flag's default can be. Nothing nested is taken, so a config's aliases can never expand
# into something large (trainers never import tui, whose YAML loader counts them).
FLAG_VALUE_TYPES = (str, int, float, bool, type(None))


def parse_flags(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; when it names ``--config FILE.yaml``, that file's keys become the defaults.
    A config that cannot be used ends the trainer with argparse's one-line error (exit 2)."""
    args = parser.parse_args(argv)
    if not getattr(args, "config", None):
        return args
    import yaml  # only when a config is given

    try:
        with open(args.config, encoding="utf-8") as file:
            values = yaml.safe_load(file) or {}
    except OSError as error:
        parser.error(f"{args.config}: {(error.strerror or str(error)).lower()}")
    except UnicodeDecodeError:
        parser.error(f"{args.config}: not UTF-8 text")
    except (yaml.YAMLError, ValueError, OverflowError) as error:
        parser.error(f"{args.config}: not valid YAML ({(str(error).strip().splitlines() or ['unreadable'])[0]})")
    if not isinstance(values, dict):
        parser.error(f"{args.config}: expected a mapping of flag names to values")
    unknown = sorted(key if isinstance(key, str) else f"({type(key).__name__})" for key in set(values) - set(vars(args)))
    if unknown:
        parser.error(f"{args.config}: unknown keys {', '.join(unknown)}")
    nested = sorted(key for key, value in values.items() if not isinstance(value, FLAG_VALUE_TYPES))
    if nested:
        parser.error(f"{args.config}: {', '.join(nested)}: a flag takes a single value, not a list or mapping")
    parser.set_defaults(**values)
    return parser.parse_args(argv)

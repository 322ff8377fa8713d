"""Hyperparameters from flags, or from a YAML config whose keys are the flag names.

The reference trainers take both so that a preset can change either: a flag in the command, or a
key of the config the command is given. Flags on the command line win over the config.
"""
from __future__ import annotations

import argparse


def parse_flags(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv``; when it names ``--config FILE.yaml``, that file's keys become the defaults."""
    args = parser.parse_args(argv)
    if not getattr(args, "config", None):
        return args
    import yaml  # only when a config is given

    with open(args.config, encoding="utf-8") as file:
        values = yaml.safe_load(file) or {}
    if not isinstance(values, dict):
        parser.error(f"{args.config}: expected a mapping of flag names to values")
    unknown = sorted(set(values) - set(vars(args)))
    if unknown:
        parser.error(f"{args.config}: unknown keys {', '.join(unknown)}")
    parser.set_defaults(**values)
    return parser.parse_args(argv)

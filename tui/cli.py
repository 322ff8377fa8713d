"""The `trainwatch` command line."""
from __future__ import annotations

import argparse
import sys

from tui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainwatch", description="Live supervision of deep-learning training.")
    parser.add_argument("--version", action="version", version=f"trainwatch {__version__}")
    commands = parser.add_subparsers(dest="command")
    check = commands.add_parser("check", help="read a log, run every diagnosis, print the findings")
    check.add_argument("target", help="a log file or a run directory")
    check.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    check.add_argument("--config", help="YAML file with diagnosis thresholds (default ~/.config/trainwatch/config.yaml)")
    return parser


def run_check(args: argparse.Namespace) -> int:
    from tui.check_report import diagnose_target, print_table, report_document, write_json
    from tui.diagnosis.config import ConfigError, load_thresholds
    from tui.readers import UnreadableLog

    try:
        thresholds = load_thresholds(args.config)
        model, findings = diagnose_target(args.target, thresholds)
    except (UnreadableLog, ConfigError) as error:
        print(f"trainwatch: {error}", file=sys.stderr)
        return 2
    if not model.series_names() and not model.decode_count:
        print(f"trainwatch: {args.target}: no metrics or decodes found (format {model.format_name})", file=sys.stderr)
        return 2
    document = report_document(model, findings)
    if args.json:
        write_json(document)
    else:
        print_table(model, findings, document)
    return 1 if any(f.severity in ("warning", "critical") for f in findings) else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "check":
        try:
            return run_check(args)
        except KeyboardInterrupt:
            return 130
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())

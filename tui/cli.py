"""The `trainwatch` command line."""
from __future__ import annotations

import argparse
import os
import sys

from tui import __version__
from tui.runs.run_record import RUNS_DIR


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainwatch", description="Live supervision of deep-learning training.")
    parser.add_argument("--version", action="version", version=f"trainwatch {__version__}")
    parser.add_argument("--theme", help="colour theme (trainwatch-dark, trainwatch-light, trainwatch-high-contrast, "
                        "or any Textual theme); remembered in the user's config")
    commands = parser.add_subparsers(dest="command")
    tail = commands.add_parser("tail", help="follow a log file or run directory live in the UI")
    tail.add_argument("target", help="a log file, a run directory, or [user@]host:PATH on another machine (over ssh)")
    tail.add_argument("--theme", dest="tail_theme", help="colour theme (see trainwatch --help)")
    tail.add_argument("--config", help="YAML file with diagnosis thresholds")
    check = commands.add_parser("check", help="read a log, run every diagnosis, print the findings")
    check.add_argument("target", help="a log file or a run directory")
    check.add_argument("--json", action="store_true", help="print the JSON document instead of a table")
    check.add_argument("--config", help="YAML file with diagnosis thresholds (default ~/.config/trainwatch/config.yaml)")
    run = commands.add_parser("run", help="launch a command as a training run (detached) and open the UI on it",
                              usage="trainwatch run [--name N] [--preset P] [--detach] "
                                    "[--slurm [SBATCH OPTIONS...]] -- CMD ARGS...")
    run.add_argument("--name", help="run name (default: the script's name); the directory is runs/NAME-N")
    run.add_argument("--preset", help="apply a preset to the command before launching it")
    run.add_argument("--detach", action="store_true", help="launch and print the run directory; no UI")
    run.add_argument("--runs-root", default=RUNS_DIR, help=argparse.SUPPRESS)
    run.add_argument("argv", nargs=argparse.REMAINDER, help="the training command, after --")
    demo = commands.add_parser("demo", help="start the built-in PyTorch CTC trainer in the UI")
    demo.add_argument("--detach", action="store_true", help="launch the demo run without opening the UI")
    commands.add_parser("presets", help="list presets and what they change")
    listing = commands.add_parser("ls", help="list runs under ./runs with status, best metric and open findings "
                                             "(in a terminal: the runs screen)")
    listing.add_argument("--plain", action="store_true", help="print the table even in a terminal")
    listing.add_argument("hosts", nargs="*", metavar="HOST:PATH",
                         help="also list the runs under PATH on HOST over ssh (HOST: for ~/runs; config.yaml's "
                              "hosts: adds its own)")
    for name, text in (("stop", "stop a launched run (graceful, then by signal)"),
                       ("checkpoint", "ask a launched run to checkpoint now")):
        command = commands.add_parser(name, help=text)
        command.add_argument("run_dir", help="the run directory (runs/NAME-N, or host:PATH over ssh)")
    lr = commands.add_parser("lr", help="change the learning rate of a launched run")
    lr.add_argument("run_dir", help="the run directory (runs/NAME-N, or host:PATH over ssh)")
    lr.add_argument("value", help="an LR (1e-4) or a factor (x0.5, /2)")
    restart = commands.add_parser("restart", help="restart a run with a preset (stops it first)")
    restart.add_argument("run_dir", help="the run directory (runs/NAME-N)")
    restart.add_argument("--preset", required=True, help="the preset to apply (see `trainwatch presets`)")
    restart.add_argument("--resume", choices=("none", "last", "best"), help="checkpoint to resume from "
                         "(default: the preset's)")
    restart.add_argument("--yes", action="store_true", help="do not ask before stopping the run")
    return parser


def run_check(args: argparse.Namespace) -> int:
    from tui.commands.check_report import diagnose_target, print_table, report_document, write_json
    from tui.diagnosis.config import ConfigError, load_thresholds
    from tui.readers import UnreadableLog
    from tui.ssh.ssh_connection import SshError

    try:
        thresholds = load_thresholds(args.config)
        model, findings = diagnose_target(args.target, thresholds)
    except (UnreadableLog, ConfigError, SshError) as error:
        print(f"trainwatch: {error}", file=sys.stderr)
        return 2
    if not model.series_names() and not model.decode_count:
        why = "".join(f"; {notice}" for notice in dict.fromkeys(model.notices[:3]))  # why, if the reader knows
        print(f"trainwatch: {args.target}: no metrics or decodes found (format {model.format_name}){why}",
              file=sys.stderr)
        return 2
    document = report_document(model, findings)
    if args.json:
        write_json(document)
    else:
        print_table(model, findings, document)
    return 1 if any(f.severity in ("warning", "critical") for f in findings) else 0


# Commands that launch or act on runs; their code lives in tui/commands/run_commands.py.
RUN_COMMANDS = ("run", "demo", "presets", "ls", "stop", "checkpoint", "lr", "restart")


def split_slurm_options(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``run ... --slurm --time=10 --gres=gpu:1 -- CMD``: the sbatch options are everything between
    ``--slurm`` and ``--`` (they are sbatch's, so argparse must not read them as ours)."""
    if not argv or argv[0] != "run" or "--slurm" not in argv:
        return argv, None
    end = argv.index("--") if "--" in argv else len(argv)
    start = argv.index("--slurm")
    if start > end:
        return argv, None  # "--slurm" is part of the training command
    return argv[:start] + argv[end:], argv[start + 1:end]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv, slurm_options = split_slurm_options(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    args.slurm_options = slurm_options
    try:
        if args.command == "check":
            return run_check(args)
        if args.command in RUN_COMMANDS:
            from tui.commands.run_commands import run_command

            return run_command(args)
        if args.command == "tail":
            from tui.commands.ui_command import run_ui

            return run_ui(args.target, args.tail_theme or args.theme, args.config)
        if args.command is None:
            from tui.commands.ui_command import run_ui

            return run_ui(None, args.theme, None)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `trainwatch check --json LOG | head`: the reader left; say nothing more (Python's own
        # recipe: point stdout at /dev/null so the interpreter's final flush cannot raise again).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())

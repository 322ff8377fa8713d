"""The commands that launch and act on runs: run, demo, presets, ls, stop, checkpoint, lr, restart.

Each prints one clear line on bad input and returns exit code 2; nothing here imports Textual
until a screen is wanted.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from tui.follow.open_target import open_run_handle
from tui.runs.control_client import ControlError
from tui.runs.launcher import LaunchError, launch_run
from tui.runs.presets import PresetError, get_preset, load_presets, plan_restart
from tui.runs.run_control import RunHandle
from tui.runs.run_record import NotOurRun
from tui.readers.log_reader import UnreadableLog
from tui.ssh.remote_target import parse_remote_target
from tui.ssh.ssh_connection import SshError

# `trainwatch demo`: the CTC reference trainer set up to overfit within a minute on a CPU, slowed a
# little so a newcomer can watch the curves part and press r to restart it with `regularize`.
# The LR is given (the trainer's default) so that every preset the demo's findings suggest applies to it.
DEMO_ARGS = ["--lr", "3e-3", "--train_size", "48", "--batch_size", "16", "--hidden", "256", "--dropout", "0",
             "--weight_decay", "1e-4", "--speaker_spread", "1.2", "--noise", "1.2", "--epochs", "60", "--epoch_sleep", "0.8"]
ACK_WAIT_SECONDS = 60.0


def _fail(message: str) -> int:
    print(f"trainwatch: {message}", file=sys.stderr)
    return 2


def run_command(args: argparse.Namespace) -> int:
    handlers = {"run": _run, "demo": _demo, "presets": _presets, "ls": _ls, "stop": _stop,
                "checkpoint": _checkpoint, "lr": _lr, "restart": _restart}
    try:
        return handlers[args.command](args)
    except (LaunchError, PresetError, ControlError, NotOurRun, SshError, UnreadableLog) as error:
        return _fail(str(error))


def _open_ui(run_dir: str, args: argparse.Namespace) -> int:
    from tui.commands.ui_command import run_ui

    return run_ui(run_dir, getattr(args, "theme", None), None)


def _run(args: argparse.Namespace) -> int:
    command = list(args.argv)
    if command and command[0] == "--":
        command = command[1:]
    changes: list[str] = []
    files: dict[str, str] = {}
    if args.preset:
        plan = plan_restart(command, os.getcwd(), get_preset(args.preset))
        command, changes, files = plan.command, plan.changes, plan.files
    slurm_options = getattr(args, "slurm_options", None)
    record = launch_run(command, name=args.name, root=args.runs_root, preset=args.preset, changes=changes,
                        files=files, slurm_options=slurm_options,
                        warn=lambda text: print(f"trainwatch: warning: {text}", file=sys.stderr))
    if record.slurm_job_id:
        print(f"trainwatch: submitted {record.name} as SLURM job {record.slurm_job_id} in {record.run_dir}")
    else:
        print(f"trainwatch: started {record.name} (pid {record.pid}) in {record.run_dir}")
    for change in changes:
        print(f"  {change}")
    if args.detach:
        return 0
    return _open_ui(record.run_dir, args)


def _demo(args: argparse.Namespace) -> int:
    record = launch_run([sys.executable, "-m", "trainers.ctc_reference", *DEMO_ARGS], name="demo")
    print(f"trainwatch: demo run {record.name} started in {record.run_dir} (it keeps training if you quit; "
          f"x stops it)")
    if args.detach:
        return 0
    return _open_ui(record.run_dir, args)


def _presets(args: argparse.Namespace) -> int:
    presets, problems = load_presets()
    width = max((len(name) for name in presets), default=8)
    for name, preset in sorted(presets.items()):
        print(f"{name:<{width}}  {preset.summary()}; resume from {preset.resume}")
        if preset.description:
            print(f"{'':<{width}}  {preset.description}")
    for problem in problems:
        print(f"trainwatch: {problem}", file=sys.stderr)
    return 0


def _ls(args: argparse.Namespace) -> int:
    from tui.runs.run_listing import list_runs
    from tui.runs.run_record import RUNS_DIR
    from tui.settings.user_config import configured_hosts
    from tui.view.remote_run_table import RemoteRunTable
    from tui.view.run_table import RunTable, lineage_order

    configured, problems = configured_hosts()
    for problem in problems:
        print(f"trainwatch: warning: {problem}", file=sys.stderr)
    hosts = list(dict.fromkeys([*args.hosts, *configured]))
    targets = []
    for host in hosts:
        target = parse_remote_target(host)
        if target is None:
            return _fail(f"{host}: not HOST:PATH (HOST: lists ~/runs there)")
        targets.append(target)
    if not targets and not list_runs(RUNS_DIR):
        return _fail(f"no runs under ./{RUNS_DIR}")
    if sys.stdout.isatty() and sys.stdin.isatty() and not args.plain:
        return _open_runs_screen(args, hosts)
    tables = [RunTable(RUNS_DIR)]
    for target in targets:
        table = RemoteRunTable(target)
        try:
            table.connection.connect(interactive=sys.stdin.isatty())  # ssh may ask for a passphrase here
        except SshError as error:
            print(f"trainwatch: {error}", file=sys.stderr)
        tables.append(table)
    print(f"{'run':<24} {'state':<18} {'best':<26} findings")
    for table in tables:
        for depth, row in lineage_order(table.rows(time.time())):
            host = f"{row.host}:" if table is not tables[0] else ""
            name = ("  " * (depth - 1) + "└ " if depth else "") + host + row.name
            if row.state in ("unreadable", "unreachable"):  # named, and the other runs still listed
                print(f"{name:<24} {row.state:<18} {row.state_detail}")
                continue
            best = f"{row.metric} {row.best}{row.best_at}" if row.metric and row.best else "-"
            findings = ", ".join(row.open_findings) or ("none" if row.progress else "-")
            print(f"{name:<24} {row.state:<18} {best:<26} {findings}")
    return 0


def _open_runs_screen(args: argparse.Namespace, hosts: list[str]) -> int:
    from tui.app.app import TrainWatch
    from tui.settings.user_config import remembered_theme

    app = TrainWatch(None, theme=remembered_theme(), runs_first=True, hosts=hosts)
    app.run()
    if app.failure:
        print(app.failure, file=sys.stderr)
    return app.return_code or 0


def _run_handle(target: str) -> RunHandle:
    """A run here, or ``host:PATH`` on another machine over ssh (which may ask for a passphrase)."""
    return open_run_handle(target, interactive=sys.stdin.isatty())


def _stop(args: argparse.Namespace) -> int:
    handle = _run_handle(args.run_dir)
    print(f"trainwatch: {handle.stop(progress=lambda text: print(f'  {text}'))}")
    return 0


def _checkpoint(args: argparse.Namespace) -> int:
    handle = _run_handle(args.run_dir)
    command_id = handle.checkpoint()
    return _report_ack(handle, command_id, "checkpoint")


def _lr(args: argparse.Namespace) -> int:
    handle = _run_handle(args.run_dir)
    command_id, _ = handle.set_lr(args.value)
    return _report_ack(handle, command_id, "LR change")


def _report_ack(handle: RunHandle, command_id: str, what: str) -> int:
    print(f"trainwatch: {what} sent ({command_id}); waiting for the trainer's next safe point...")
    ack = handle.wait_for_ack(command_id, ACK_WAIT_SECONDS)
    if ack is None:
        return _fail("no acknowledgement yet; it stays pending and is applied at most once when the trainer reads it")
    print(f"trainwatch: {'applied' if ack.get('applied') else 'not applied'}: {ack.get('message')}")
    return 0 if ack.get("applied") else 1


def _restart(args: argparse.Namespace) -> int:
    from tui.follow.whole_run import read_whole_run
    from tui.readers import UnreadableLog
    from tui.runs.restart import command_lines, propose_restart, restart_run
    from tui.view.checkpoint_choice import MainMetricAtCheckpoints, resume_line

    remote = parse_remote_target(args.run_dir)
    if remote is not None:  # a restart launches a new process: that takes trainwatch where the run is
        return _fail(f"restart runs where the run is: ssh {remote.destination} trainwatch restart {remote.path} "
                     f"--preset {args.preset}")
    try:  # "best" is judged by the main validation metric, as in the UI
        metric = MainMetricAtCheckpoints(read_whole_run(args.run_dir))
    except (OSError, UnreadableLog):
        metric = None
    judge = metric.judge if metric is not None and metric.curve is not None else None
    proposal = propose_restart(args.run_dir, args.preset, args.resume, judge)
    print(f"restart {proposal.parent.name} with preset {proposal.preset.name}:")
    resume = [line for line in (resume_line(proposal, metric),) if line]
    for line in proposal.plan.changes + proposal.plan.skipped + resume + command_lines(proposal):
        print(f"  {line}")
    if not args.yes:
        if not sys.stdin.isatty():
            return _fail("not a terminal: add --yes to restart without asking")
        if input("stop the run and restart? [y/N] ").strip().lower() not in ("y", "yes"):
            print("trainwatch: nothing changed")
            return 1
    started = time.monotonic()
    record = restart_run(proposal, progress=lambda text: print(f"  {text}"))
    print(f"trainwatch: started {record.name} (pid {record.pid}) in {record.run_dir} "
          f"after {time.monotonic() - started:.1f} s")
    return 0

"""`trainwatch check`: read a log headlessly, diagnose it, report as JSON or a table."""
from __future__ import annotations

import json
import math
import sys
from typing import Any

from tui.diagnosis.engine import DiagnosisEngine
from tui.diagnosis.finding import Finding
from tui.model.number_format import exact, when
from tui.follow.whole_run import read_whole_run
from tui.model.run_model import RunModel
from tui.view.run_overview import state_of_source


def diagnose_target(target: str, thresholds: dict | None = None) -> tuple[RunModel, list[Finding]]:
    """Read a target completely and run every diagnosis on it."""
    model = read_whole_run(target)
    return model, DiagnosisEngine(thresholds).update(model)


def report_document(model: RunModel, findings: list[Finding]) -> dict[str, Any]:
    """The JSON contract of `trainwatch check --json` (see PRODUCT.md)."""
    state, state_detail = state_of_source(model.source, model.status)
    return {
        "source": model.source,
        "format": model.format_name,
        "state": state,  # running, finished, crashed, stopped, gone; null when the log does not say
        "state_detail": state_detail,  # "killed by SIGSEGV (exit code 139)"
        "segments": sum(1 for segment in model.segments if not segment.empty) or 1,
        "samples": model.decode_count,
        "series": {name: model.summary_of(name) for name in model.series_names()},
        "findings": [finding.to_json() for finding in findings],
        "notices": list(dict.fromkeys(model.notices)),  # the reader's, first seen first, each once
    }


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def write_json(document: dict[str, Any], stream=sys.stdout) -> None:
    json.dump(_json_safe(document), stream, indent=1, allow_nan=False)
    stream.write("\n")


def print_table(model: RunModel, findings: list[Finding], document: dict[str, Any]) -> None:
    """The human view: what was read, each metric's last/best, then the findings."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    # Names, paths and notices come from the log: escaped, or a "[/bold]" in one is read as markup.
    console = Console()
    console.print(f"[bold]{escape(document['source'])}[/bold]  format [cyan]{document['format']}[/cyan]  "
                  f"segments {document['segments']}  decode samples {document['samples']}"
                  + (f"  state [bold]{escape(document['state'])}[/bold]" if document["state"] else "")
                  + (f": {escape(document['state_detail'])}" if document["state_detail"] else ""))
    metrics = Table(title="metrics", title_justify="left", show_edge=False)
    for column in ("metric", "points", "last", "best", "best at", "goal"):
        metrics.add_column(column, justify="right" if column in ("points", "last", "best") else "left")
    for name, summary in document["series"].items():
        best_at = ("epoch " + str(summary["best_epoch"])) if summary["best_epoch"] is not None else (
            "step " + str(summary["best_step"]) if summary["best_step"] is not None else "")
        metrics.add_row(escape(name), str(summary["points"]), exact(summary["last"]), exact(summary["best"]), best_at,
                        summary["goal"] or "")
    console.print(metrics)
    if findings:
        console.print(_findings_table(findings))
    else:
        console.print("[green]No findings: nothing looks wrong.[/green]")
    for notice in document["notices"]:
        console.print(f"[dim]note: {escape(notice)}[/dim]")


def _findings_table(findings: list[Finding]):
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="findings", title_justify="left", show_edge=False, show_lines=True)
    for column in ("severity", "finding", "since", "evidence", "action"):
        table.add_column(column, overflow="fold")
    colours = {"critical": "bold red", "warning": "yellow", "info": "blue"}
    for finding in findings:
        since = when(finding.epoch, finding.step) if finding.epoch is not None or finding.step is not None else ""
        table.add_row(f"[{colours[finding.severity]}]{finding.severity}[/]",
                      f"{escape(finding.title)}\n[dim]{finding.id}[/dim]", since, escape(finding.evidence),
                      escape(finding.action or ""))
    return table

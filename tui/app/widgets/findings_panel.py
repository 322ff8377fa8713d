"""The findings: severity, title, evidence in numbers, since when, and what to do about it."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.diagnosis.finding import Finding
from tui.diagnosis.registry import ordered
from tui.model.number_format import when


class FindingsPanel(Static):
    DEFAULT_CSS = """
    FindingsPanel { height: auto; }
    """
    COMPONENT_CLASSES = {"findings-panel--critical", "findings-panel--warning", "findings-panel--info",
                         "findings-panel--title", "findings-panel--evidence", "findings-panel--action",
                         "findings-panel--quiet"}

    def show_findings(self, findings: list[Finding], diagnosed: bool, partial: bool = False,
                      presets: set[str] | frozenset[str] = frozenset()) -> None:
        """Causes first, as check and ls list them; ``presets``: those that apply to the run's command."""
        if not findings:
            message = ("reading the whole log: findings come when it is in" if partial
                       else "no problems found so far" if diagnosed else "waiting for enough data to diagnose…")
            self.update(Text(message, style=self.get_component_rich_style("findings-panel--quiet")))
            return
        blocks = []
        for finding in ordered(findings):
            block = Text()
            block.append(f" {finding.severity.upper()} ",
                         style=self.get_component_rich_style(f"findings-panel--{finding.severity}"))
            block.append(f" {finding.title}", style=self.get_component_rich_style("findings-panel--title"))
            since = "" if "since" in finding.title else f"  since {when(finding.epoch, finding.step)}"
            block.append(f"{since}  [{finding.id}]\n", style=self.get_component_rich_style("findings-panel--quiet"))
            block.append(finding.evidence, style=self.get_component_rich_style("findings-panel--evidence"))
            if finding.action:
                # The restart key offers the preset first, so it is shown only where the preset applies.
                key = "  [r]" if finding.preset in presets else ""
                block.append(f"\n→ {finding.action}{key}", style=self.get_component_rich_style("findings-panel--action"))
            blocks.append(block)
        self.update(Text("\n\n").join(blocks))

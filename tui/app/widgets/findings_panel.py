"""The findings: a line per finding, causes first, and the selected one in full (evidence in
numbers, since when, what to do about it). `n`/`N` move the selection, so the whole list is
reachable at 80x24 without knowing that Tab focuses the panel."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.diagnosis.finding import Finding
from tui.diagnosis.registry import ordered
from tui.model.number_format import when

NAVIGATION_HINT = "n next · N previous"


class FindingsPanel(Static):
    DEFAULT_CSS = """
    FindingsPanel { height: auto; }
    """
    COMPONENT_CLASSES = {"findings-panel--critical", "findings-panel--warning", "findings-panel--info",
                         "findings-panel--title", "findings-panel--evidence", "findings-panel--action",
                         "findings-panel--quiet"}

    def on_mount(self) -> None:
        self._findings: list[Finding] = []
        self._presets: set[str] | frozenset[str] = frozenset()
        self._selected_id: str | None = None  # kept by id: a new finding must not move the user's choice

    @property
    def findings(self) -> list[Finding]:
        """As shown: causes first, the order of check and ls."""
        return self._findings

    @property
    def selected(self) -> int:
        ids = [finding.id for finding in self._findings]
        return ids.index(self._selected_id) if self._selected_id in ids else 0

    def show_findings(self, findings: list[Finding], diagnosed: bool, partial: bool = False,
                      presets: set[str] | frozenset[str] = frozenset()) -> None:
        """``presets``: those that apply to the run's command (only they get the `[r]` hint)."""
        self._findings, self._presets = ordered(findings), presets
        if not findings:
            message = ("reading the whole log: findings come when it is in" if partial
                       else "no problems found so far" if diagnosed else "waiting for enough data to diagnose…")
            self._set_hint()
            self.update(Text(message, style=self.get_component_rich_style("findings-panel--quiet")))
            return
        self._draw()

    def select(self, offset: int) -> None:
        """Move the selection by ``offset`` findings, round the list."""
        if self._findings:
            self._selected_id = self._findings[(self.selected + offset) % len(self._findings)].id
            self._draw()

    def on_resize(self) -> None:
        if self._findings:
            self._draw()  # the one-line titles are cut to the new width

    def _draw(self) -> None:
        """One line per finding (the selected one marked), then the selected one in full: the
        whole list stays in sight however long one finding's evidence is."""
        chosen = self.selected
        self._selected_id = self._findings[chosen].id
        self._set_hint()
        if len(self._findings) == 1:
            self.update(self._full(self._findings[0]))
            return
        width = max(10, self.content_size.width or self.size.width or 36)
        lines = []
        for index, finding in enumerate(self._findings):
            line = self._title_line(finding, marker="▸" if index == chosen else " ", short=True)
            line.truncate(width, overflow="ellipsis")
            lines.append(line)
        lines.append(Text("─" * width, style=self.get_component_rich_style("findings-panel--quiet")))
        lines.append(self._full(self._findings[chosen]))
        self.update(Text("\n").join(lines))

    def _set_hint(self) -> None:
        box = self.parent
        if box is None:
            return
        count = len(self._findings)
        box.border_title = f"findings {self.selected + 1}/{count}" if count > 1 else "findings"
        box.border_subtitle = NAVIGATION_HINT if count > 1 else ""

    def _title_line(self, finding: Finding, marker: str, short: bool = False) -> Text:
        """``short``: the list's line, whose severity is cut to four letters (CRIT, WARN, INFO) so
        that the title keeps the room at 80 columns."""
        line = Text(marker)
        severity = finding.severity.upper()
        line.append(f" {severity[:4] if short else severity} ",
                    style=self.get_component_rich_style(f"findings-panel--{finding.severity}"))
        line.append(f" {finding.title}", style=self.get_component_rich_style("findings-panel--title"))
        return line

    def _full(self, finding: Finding) -> Text:
        block = self._title_line(finding, marker="")
        since = "" if "since" in finding.title else f"  since {when(finding.epoch, finding.step)}"
        block.append(f"{since}  [{finding.id}]\n", style=self.get_component_rich_style("findings-panel--quiet"))
        block.append(finding.evidence, style=self.get_component_rich_style("findings-panel--evidence"))
        if finding.action:
            # The restart key offers the preset first, so it is shown only where the preset applies.
            key = "  [r]" if finding.preset in self._presets else ""
            block.append(f"\n→ {finding.action}{key}", style=self.get_component_rich_style("findings-panel--action"))
        return block

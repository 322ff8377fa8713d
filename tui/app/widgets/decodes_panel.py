"""The latest sample decodes: target vs. prediction, differences coloured, WER/CER, empties called out."""
from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tui.model.decode_diff import diff_decode
from tui.model.number_format import when
from tui.model.run_model import Decode

LATEST_DECODES_SHOWN = 8


def latest_decodes(decodes: list[Decode]) -> list[Decode]:
    """The decodes logged at the same epoch/step as the newest one (one evaluation's samples)."""
    if not decodes:
        return []
    newest = decodes[-1]
    group = [d for d in decodes[-64:] if (d.epoch, d.step) == (newest.epoch, newest.step)]
    return group[-LATEST_DECODES_SHOWN:]


class DecodesPanel(Static):
    DEFAULT_CSS = """
    DecodesPanel { height: auto; }
    """
    COMPONENT_CLASSES = {"decodes-panel--same", "decodes-panel--missing", "decodes-panel--wrong",
                         "decodes-panel--extra", "decodes-panel--empty", "decodes-panel--label"}

    def show_decodes(self, decodes: list[Decode], total: int) -> None:
        label = self.get_component_rich_style("decodes-panel--label")
        shown = latest_decodes(decodes)
        if not shown:
            self.update(Text("no sample decodes in this log", style=label))
            return
        empty_count = sum(decode.empty for decode in shown)
        heading = Text(f"{len(shown)} samples at {when(shown[-1].epoch, shown[-1].step)} ({total} in the log)",
                       style=label)
        if empty_count:
            heading.append(f"  {empty_count} of {len(shown)} predictions EMPTY",
                           style=self.get_component_rich_style("decodes-panel--empty"))
        blocks = [heading]
        for number, decode in enumerate(shown, 1):
            blocks.append(self._decode_block(number, decode, label))
        self.update(Text("\n").join(blocks))

    def _decode_block(self, number: int, decode: Decode, label) -> Text:
        target_spans, predicted_spans = diff_decode(decode.reference, decode.hypothesis)
        name = decode.sample_id or f"#{number}"
        scores = f"WER {decode.wer:.0%}  CER {decode.cer:.0%}"
        if decode.blank_ratio is not None:
            scores += f"  blank {decode.blank_ratio:.0%}"
        block = Text(f"{name}  {scores}\n", style=label)
        block.append("  T: ", style=label)
        self._append_spans(block, target_spans)
        block.append("\n  P: ", style=label)
        if decode.empty:
            block.append("(empty prediction)", style=self.get_component_rich_style("decodes-panel--empty"))
        else:
            self._append_spans(block, predicted_spans)
        return block

    def _append_spans(self, block: Text, spans: list[tuple[str, str]]) -> None:
        for index, (kind, words) in enumerate(spans):
            if index:
                block.append(" ")
            block.append(words, style=self.get_component_rich_style(f"decodes-panel--{kind}"))

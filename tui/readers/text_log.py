"""Text training output: Keras progress bars, Trainer/fairseq dict lines, plain prints, tables.

One parser handles all of them line by line because real stdout mixes them: a Keras log has TF
warnings between epochs, a Hugging Face log has tqdm bars between its dicts, and a custom script
prints dataset sizes, epoch lines and sample decodes in one stream.
"""
from __future__ import annotations

import ast
import json
import re
import warnings

from tui.readers.parser_base import LineParser
from tui.readers.values import JSON_ERRORS, as_count, record_from_mapping, to_float
from tui.records import DatasetSizeRecord, DecodeRecord, MetricRecord, Record, TextRecord

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_KERAS_EPOCH_RE = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*(\d+)\s*$")
_PROGBAR_RE = re.compile(r"^\s*(\d+)/(\d+)\s*(?:\[[=>.]*\]|━+|[\u2500-\u257f]+)?")
_PROGBAR_PAIR_RE = re.compile(r"\s-\s([A-Za-z_][\w/.]*):\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf)")
_MARKER_RE = re.compile(
    r"(?i)(?:^|(?<=[\s|\[:,(]))(?:end of\s+)?(epoch|iteration|iter|step)\b\s*[:#=]?\s*(\d+)(?:\s*/\s*(\d+))?")
_NUMBER = r"(?:nan|[-+]?inf|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_WORD = r"[A-Za-z][\w./@()\[\]-]*"
_PAIR_RE = re.compile(
    rf"\s*({_WORD}(?:\s{_WORD}){{0,3}}?)\s*[:=]?\s*({_NUMBER})\s*(%|s|ms|sec)?(?:\s*\(\d+\s+words?\))?\s*",
    re.IGNORECASE)
_CHUNK_SPLIT_RE = re.compile(r"\s\|\s|\|\s|\s\||,\s|;\s|\t| - ")
_SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "eval": "eval", "test": "test", "dev": "val"}
_DECODE_REF_RE = re.compile(r"(?i)^\s*(?:target|reference|ref|truth|ground[ _]truth|gt|label)\s*[:=]\s?(.*)$")
_DECODE_HYP_RE = re.compile(r"(?i)^\s*(?:pred|prediction|predicted|hyp|hypothesis|decoded|output)\s*[:=]\s?(.*)$")
_WORD_COUNT_RE = re.compile(r"\s*\(\d+\s+words?\)\s*$")
_EMPTY_MARKERS = {"(empty)", "<empty>", "''", '""', "<blank>", "(blank)"}
_DATASET_SIZE_RE = re.compile(
    r"(?i)\b(train|training|val|valid|validation|dev|test)(?:[ _](?:set|samples|size|examples|data|split))?"
    r"\s*[:=]?\s*(\d[\d,]*)\b(?![.\d])")
# Data-pipeline trouble, as numpy, pandas, sklearn and torch word it. Generic deprecation
# warnings are deliberately not here: they say nothing about the data.
_DATA_WARNING_RE = re.compile(
    r"(?i)(invalid value encountered|divide by zero encountered|overflow encountered|mean of empty slice"
    r"|degrees of freedom <= 0|contains? (?:nan|inf)|nan (?:values?|detected|found|in input)"
    r"|input contains nan|zero variance|constant(?:input)?warning|std\(\) is zero|found nan|found inf"
    r"|all-nan|empty batch|corrupt (?:image|file|sample))")
# Words that make a phrase a sentence, not a metric name ("improved from 0.66 to 0.95").
_SENTENCE_WORDS = {"from", "to", "of", "at", "for", "by", "with", "than", "in", "on", "is", "was", "after",
                   "did", "not", "improved", "reducing", "saving", "best", "since", "and", "or"}
_MAX_PREFIX = 200
_LOG_LEVEL_RE = re.compile(r"(?i)\b(info|debug|warning|warn|error|critical|root)\b|\[[^\]]*\]")


def _strip_noise(line: str) -> str:
    return _ANSI_RE.sub("", line).rstrip()


def _canonical_name(name: str) -> str:
    """'Train Loss' -> 'train_loss', 'Validation WER' -> 'val_wer'; other names lower snake_case."""
    words = name.strip().split()
    if words and words[0].lower() in _SPLIT_WORDS:
        words[0] = _SPLIT_WORDS[words[0].lower()]
    return "_".join(word.lower() if len(words) > 1 or word.lower() in _SPLIT_WORDS else word for word in words)


def _parse_chunk(chunk: str) -> list[tuple[str, float]] | None:
    """All name/value pairs of a chunk, or None when the chunk is not made of pairs alone."""
    pairs: list[tuple[str, float]] = []
    position = 0
    text = chunk.strip().rstrip(".,;")
    while position < len(text):
        match = _PAIR_RE.match(text, position)
        if not match or match.end() == position:
            return None
        value = to_float(match.group(2))
        if value is None:
            return None
        if any(word.lower() in _SENTENCE_WORDS for word in match.group(1).split()):
            return None
        pairs.append((match.group(1), value))
        position = match.end()
    return pairs


def parse_metric_line(line: str) -> MetricRecord | None:
    """A plain training print such as ``Epoch 5 | train_loss 0.41 | val_acc 81.2%``; else None.

    The line must start (after a timestamp or log level) with an epoch/step/iteration marker,
    so summaries like "best 0.8 at epoch 3" are not mistaken for a new epoch.
    """
    marker = _MARKER_RE.search(line)
    # A prefix longer than any timestamp and log level is not one, and the bracket pattern would
    # cost quadratic time on it (half a megabyte of "[" took minutes).
    if marker is None or marker.start() > _MAX_PREFIX:
        return None
    if re.search(r"[A-Za-z]", _LOG_LEVEL_RE.sub("", line[: marker.start()])):
        return None
    kind, number = marker.group(1).lower(), as_count(marker.group(2))
    if number is None:
        return None
    values: dict[str, float] = {}
    step: int | None = number if kind != "epoch" else None
    epoch: float | None = float(number) if kind == "epoch" else None
    rest = line[marker.end():].lstrip(" :|-,")
    for chunk in _CHUNK_SPLIT_RE.split(rest):
        pairs = _parse_chunk(chunk) if chunk.strip() else None
        if not pairs:
            continue
        first_word = pairs[0][0].split()[0].lower()
        split_prefix = _SPLIT_WORDS.get(first_word)
        for index, (name, value) in enumerate(pairs):
            key = _canonical_name(name)
            if index > 0 and split_prefix and name.split()[0].lower() not in _SPLIT_WORDS:
                key = f"{split_prefix}_{key.lower()}"
            lowered = key.lower()
            if lowered in ("step", "iter", "iteration", "global_step") and step is None:
                step = as_count(value)
            elif lowered == "epoch" and epoch is None:
                epoch = value
            else:
                values[key] = value
    if not values:
        return None
    return MetricRecord(values, step, epoch)


def _mapping_in(line: str) -> dict | None:
    """The dict printed on a line (Hugging Face Trainer, fairseq json logs), if there is one."""
    start, end = line.find("{"), line.rfind("}")
    if start < 0 or end <= start or end - start > 200_000:
        return None
    body = line[start: end + 1]
    try:
        mapping = json.loads(body)
    except JSON_ERRORS:
        # Python dict reprs: single quotes, and bare nan/inf that literal_eval rejects.
        body = re.sub(r"(?<=[:\s\[,])(-?(?:nan|inf))(?=[,}\]\s])", r"'\1'", body)
        try:
            with warnings.catch_warnings():  # "invalid decimal literal" and the like: the log's, not ours
                warnings.simplefilter("ignore", SyntaxWarning)
                mapping = ast.literal_eval(body)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return None
    return mapping if isinstance(mapping, dict) else None


class TextLogParser(LineParser):
    """Reads every text style at once; ``format_name`` names the style it saw most."""

    def __init__(self) -> None:
        self.format_name = "text"
        self._style_counts: dict[str, int] = {}
        self._epoch: float | None = None  # the epoch the latest header or metric line named
        self._step: int | None = None
        self._progbar: dict[str, float] | None = None
        self._table_header: list[str] | None = None
        self._previous_line = ""
        self._reference: str | None = None

    def _saw(self, style: str) -> None:
        self._style_counts[style] = self._style_counts.get(style, 0) + 1
        self.format_name = max(self._style_counts, key=self._style_counts.__getitem__)

    def parse_lines(self, lines: list[str]) -> list[Record]:
        records: list[Record] = []
        for raw in lines:
            line = _strip_noise(raw)
            if line.strip():
                self._parse_line(line, records)
                self._previous_line = line
        return records

    def finish(self) -> list[Record]:
        records: list[Record] = []
        self._flush_progbar(records)
        return records

    def _flush_progbar(self, records: list[Record]) -> None:
        if self._progbar:
            records.append(MetricRecord(self._progbar, None, self._epoch))
        self._progbar = None

    def _emit_metrics(self, record: MetricRecord, records: list[Record]) -> None:
        if record.epoch is not None:
            self._epoch = record.epoch
        if record.step is not None:
            self._step = record.step
        records.append(record)

    def _parse_line(self, line: str, records: list[Record]) -> None:
        header = _KERAS_EPOCH_RE.match(line)
        if header:
            self._flush_progbar(records)
            self._epoch = float(header.group(1))
            self._saw("keras_progbar")
            return
        progress = _PROGBAR_RE.match(line)
        if progress and " - " in line:
            pairs = {name: float(value) for name, value in _PROGBAR_PAIR_RE.findall(line)}
            if pairs and progress.group(1) == progress.group(2):
                # Keras 3 prints the finished bar twice, the second time with val_ metrics.
                self._progbar = {**(self._progbar or {}), **pairs}
                if any(name.startswith("val_") for name in pairs):
                    self._flush_progbar(records)
            return
        mapping = _mapping_in(line) if "{" in line else None
        if mapping is not None:
            if "train_runtime" in mapping:
                return  # the Trainer's closing summary repeats run averages
            record = record_from_mapping(mapping)
            if record is not None:
                self._saw("fairseq_log" if "][" in line[:80] else "hf_trainer_stdout")
                self._emit_metrics(record, records)
            return
        if line.lstrip().startswith("|") and self._parse_table_line(line, records):
            return
        if self._parse_decode_line(line, records):
            return
        record = parse_metric_line(line)
        if record is not None:
            self._saw("plain_text")
            self._emit_metrics(record, records)
            return
        if _DATA_WARNING_RE.search(line):
            records.append(TextRecord(line.strip()[:500], "stderr", self._epoch, self._step))
            return
        for split, size in _DATASET_SIZE_RE.findall(line):
            count = as_count(size.replace(",", ""))
            if "%" not in line and "=" not in line.split(split, 1)[-1][:2] and count is not None:
                canonical = _SPLIT_WORDS.get(split.lower(), split.lower())
                records.append(DatasetSizeRecord("val" if canonical == "eval" else canonical, count))

    def _parse_table_line(self, line: str, records: list[Record]) -> bool:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{3,}:?", cell) for cell in cells if cell):
            previous = [cell.strip() for cell in self._previous_line.strip().strip("|").split("|")]
            self._table_header = previous
            self._saw("markdown_table")
            return True
        if self._table_header and len(cells) == len(self._table_header):
            record = record_from_mapping(dict(zip(self._table_header, cells)))
            if record is not None:
                self._emit_metrics(record, records)
            return True
        return False

    def _parse_decode_line(self, line: str, records: list[Record]) -> bool:
        reference = _DECODE_REF_RE.match(line)
        if reference:
            self._reference = _WORD_COUNT_RE.sub("", reference.group(1)).strip()
            return True
        hypothesis = _DECODE_HYP_RE.match(line)
        if hypothesis and self._reference is not None:
            text = _WORD_COUNT_RE.sub("", hypothesis.group(1)).strip()
            if text.lower() in _EMPTY_MARKERS:
                text = ""
            records.append(DecodeRecord(self._reference, text, self._step, self._epoch))
            self._reference = None
            return True
        return False

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
from tui.model.records import DatasetSizeRecord, DecodeRecord, MetricRecord, Record, TextRecord

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_KERAS_EPOCH_RE = re.compile(r"^\s*Epoch\s+(\d+)\s*/\s*(\d+)\s*$")
_PROGBAR_RE = re.compile(r"^\s*(\d+)/(\d+)\s*(?:\[[=>.]*\]|━+|[\u2500-\u257f]+)?")
# Keras verbose=2 (one line per epoch, after "Epoch k/n"): "224s - loss: ..." (Keras 1),
# " - 5s - loss: ..." and "- 5s 3ms/step - loss: ..." (Keras 2).
_EPOCH_SUMMARY_RE = re.compile(r"^\s*(?:-\s*)?\d+(?:\.\d+)?m?s(?:\s+\d+(?:\.\d+)?[mµu]?s/(?:step|sample))?\s+-\s")
_PROGBAR_PAIR_RE = re.compile(r"\s-\s([A-Za-z_][\w/.]*):\s*([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf)")
_MARKER_RE = re.compile(
    r"(?i)(?:^|(?<=[\s|\[:,(]))(?:end of\s+)?(epoch|iteration|iter|step)\b\s*[:#=]?\s*\[?\s*(\d+)(?:\s*/\s*(\d+))?\s*\]?")
# Where inside an epoch a training print lies: "Iter: [0/13]", "Step [100/600]", "200/2983 batches",
# the ImageNet example's "Epoch: [0][ 10/5005]".
_BATCH_COUNTER_RE = re.compile(
    r"(?i)^(?:(?:iter|iteration|step|batch)(?:es)?\s*[:#]?\s*)?\[?\s*(\d+)\s*/\s*(\d+)\s*\]?(?:\s+batch(?:es)?)?$")
# A line of evaluation results without an epoch marker of its own, placed at the latest epoch/step:
# "Test:\tLoss 103.79\tAcc@1 27.24" (SwAV, the ImageNet example), "| End of training | test loss 5.04".
_EVALUATION_LINE_RE = re.compile(
    r"(?i)(?:^|(?<=[\s|]))(?:(end of training)|(test|val|valid|validation|eval|evaluation))\s*[:|]\s*")
_NUMBER = r"(?:nan|[-+]?inf|[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_WORD = r"[A-Za-z][\w./@()\[\]-]*"
_PAIR_RE = re.compile(
    rf"\s*({_WORD}(?:\s{_WORD}){{0,3}}?)\s*[:=]?\s*({_NUMBER})\s*(%|s|ms|sec)?(?:\s*\(\d+\s+words?\))?"
    rf"(?:\s*\(\s*{_NUMBER}\s*\))?\s*",  # AverageMeter: "Loss 6.7563 (6.9012)", the value then its running mean
    re.IGNORECASE)
_CHUNK_SPLIT_RE = re.compile(r"\s\|\s|\|\s|\s\||,\s|;\s|\t| - ")
_SPLIT_WORDS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "eval": "eval", "test": "test", "dev": "val"}
# A table's rule under its header: "|---|:---:|" or a plain line of dashes ("-----+-----").
_TABLE_RULE_RE = re.compile(r"^\s*\|?\s*:?-{3,}[-:|+\s=]*$")
_TABLE_NAME_RE = re.compile(r"^[A-Za-z][\w ./@()%\[\]-]*$")
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
    parsed = _metric_line(line)
    return parsed[0] if parsed else None


def _only_a_log_prefix(text: str) -> bool:
    """Text before a marker that is a timestamp and log level at most."""
    return len(text) <= _MAX_PREFIX and not re.search(r"[A-Za-z]", _LOG_LEVEL_RE.sub("", text))


def _metric_line(line: str) -> tuple[MetricRecord, float | None] | None:
    """The record of a marked line, and where inside its epoch it lies (k/n of a batch counter)."""
    marker = _MARKER_RE.search(line)
    # A prefix longer than any timestamp and log level is not one, and the bracket pattern would
    # cost quadratic time on it (half a megabyte of "[" took minutes).
    if marker is None or marker.start() > _MAX_PREFIX or not _only_a_log_prefix(line[: marker.start()]):
        return None
    kind, number = marker.group(1).lower(), as_count(marker.group(2))
    if number is None:
        return None
    step: int | None = number if kind != "epoch" else None
    epoch: float | None = float(number) if kind == "epoch" else None
    values, step, epoch, within = _pairs_of(line[marker.end():], "", step, epoch)
    if not values:
        return None
    return MetricRecord(values, step, epoch), within if kind == "epoch" else None


def _evaluation_line(line: str) -> dict[str, float] | None:
    """The values of an unmarked evaluation line ("Test:\tLoss 0.9\tAcc@1 27.2"), named for its split."""
    match = _EVALUATION_LINE_RE.search(line, 0, _MAX_PREFIX + 40)
    if match is None or not _only_a_log_prefix(line[: match.start()].rstrip(" |")):
        return None
    split = "test" if match.group(1) else _SPLIT_WORDS[match.group(2).lower()[:5].rstrip("au")]
    values = _pairs_of(line[match.end():], split, None, None)[0]
    return values or None


def _pairs_of(rest: str, split: str, step: int | None, epoch: float | None
              ) -> tuple[dict[str, float], int | None, float | None, float | None]:
    """The name/value pairs of a print's chunks, the step or epoch they name, and a batch counter's
    k/n. ``split``: the split every unprefixed name belongs to."""
    values: dict[str, float] = {}
    within: float | None = None
    for chunk in _CHUNK_SPLIT_RE.split(rest.lstrip(" :|-,")):
        counter = _BATCH_COUNTER_RE.match(chunk.strip())
        if counter:
            done, total = int(counter.group(1)), int(counter.group(2))
            within = done / total if 0 <= done <= total and total else within
            continue
        pairs = _parse_chunk(chunk) if chunk.strip() else None
        if not pairs:
            continue
        first_word = pairs[0][0].split()[0].lower()
        split_prefix = _SPLIT_WORDS.get(first_word) or split
        for index, (name, value) in enumerate(pairs):
            key = _canonical_name(name)
            if (index > 0 or split) and split_prefix and name.split()[0].lower() not in _SPLIT_WORDS:
                key = f"{split_prefix}_{key.lower()}"
            lowered = key.lower()
            if lowered in ("step", "iter", "iteration", "global_step") and step is None:
                step = as_count(value)
            elif lowered == "epoch" and epoch is None:
                epoch = value
            else:
                values[key] = value
    return values, step, epoch, within


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


def _table_cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_value(cell: str) -> str:
    """A cell's number, past a marker printed after it ("70.02%  ← best")."""
    if to_float(cell) is not None or not cell:
        return cell
    return cell.split()[0]


class TextLogParser(LineParser):
    """Reads every text style at once; ``format_name`` names the style it saw most."""

    def __init__(self) -> None:
        self.format_name = "text"
        self._style_counts: dict[str, int] = {}
        self._epoch: float | None = None  # the epoch the latest header or metric line named
        self._epoch_number: float | None = None  # the epoch counter the latest marked print showed
        self._first_epoch: float | None = None  # 0 or 1: where the log's epoch counter starts
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
        if self._epoch is not None and _EPOCH_SUMMARY_RE.match(line):
            pairs = {name: float(value) for name, value in _PROGBAR_PAIR_RE.findall(line)}
            if pairs:
                self._progbar = {**(self._progbar or {}), **pairs}
                self._flush_progbar(records)
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
        if ("|" in line or "---" in line) and self._parse_table_line(line, records):
            return
        if self._parse_decode_line(line, records):
            return
        parsed = _metric_line(line)
        if parsed is not None:
            record, within = parsed
            if self._first_epoch is None and record.epoch is not None:
                self._first_epoch = record.epoch
            self._epoch_number = record.epoch
            if within is not None and record.epoch is not None:
                # Epochs done: "Epoch [3/10], Step [100/600]" of a log counting from 1 is epoch
                # 2.17, as validation at the end of that epoch is epoch 3.
                base = 0.0 if self._first_epoch == 0 else 1.0
                record = MetricRecord(record.values, record.step, record.epoch - base + within)
            self._emit_metrics(record, records)
            self._saw("plain_text")
            return
        evaluation = _evaluation_line(line)
        if evaluation is not None:
            # At the epoch counter of the training print before it, not that print's fraction of it.
            epoch = self._epoch_number if self._epoch_number is not None else self._epoch
            records.append(MetricRecord(evaluation, self._step, epoch))
            self._saw("plain_text")
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
        """Rows of a printed table: markdown (``| a | b |`` over ``|---|---|``) or plain
        (`` Epoch | TrainLoss | ValAcc`` over a rule of dashes); a row has the header's cells."""
        cells = _table_cells(line)
        if _TABLE_RULE_RE.match(line):
            header = _table_cells(self._previous_line)
            if len(header) >= 2 and all(_TABLE_NAME_RE.match(name) for name in header):
                self._table_header = header
                self._saw("markdown_table" if line.lstrip().startswith("|") else "text_table")
                return True
            return False
        if self._table_header and len(cells) == len(self._table_header):
            record = record_from_mapping(dict(zip(self._table_header, map(_table_value, cells))))
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

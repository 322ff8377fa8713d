"""Hugging Face ``trainer_state.json``: rewritten whole at every save, so it is re-read whole."""
from __future__ import annotations

import json

from tui.readers.parser_base import WholeFileParser
from tui.readers.values import record_from_mapping
from tui.model.records import ReaderNotice, Record

# The closing summary entry repeats averages over the whole run; it is not a point in time.
SUMMARY_KEYS = ("train_runtime", "total_flos")


def _json_int(text: str) -> int | float:
    """An integer of the file; past int()'s 4,300-digit limit it is read as the float it rounds
    to (inf), so one absurd number does not make the whole file unreadable."""
    return int(text) if len(text) < 4000 else float(text)


class HfTrainerStateParser(WholeFileParser):
    format_name = "hf_trainer_state"

    def parse_whole(self, data: bytes) -> list[Record]:
        try:
            state = json.loads(data.decode("utf-8-sig", errors="replace"), parse_int=_json_int)
        except RecursionError:
            return [ReaderNotice("trainer_state.json nests deeper than any JSON reader follows: not read")]
        except ValueError:
            # Caught mid-rewrite: the next change event brings the complete file.
            return [ReaderNotice("trainer_state.json is not complete JSON yet (being rewritten?)")]
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            return [ReaderNotice("trainer_state.json has no log_history list")]
        records: list[Record] = []
        for entry in history:
            if not isinstance(entry, dict) or any(key in entry for key in SUMMARY_KEYS):
                continue
            record = record_from_mapping(entry)
            if record is not None:
                records.append(record)
        return records

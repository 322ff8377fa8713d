"""Word-level differences between a decode's target and prediction, for colouring them."""
from __future__ import annotations

from difflib import SequenceMatcher

# Span kinds: "same" words match; "missing" target words the prediction lacks or got wrong;
# "wrong" prediction words that replace target words; "extra" prediction words with no target.
Span = tuple[str, str]


def diff_decode(reference: str, hypothesis: str) -> tuple[list[Span], list[Span]]:
    """(reference spans, hypothesis spans); the words of each side, in order, tagged by kind."""
    target, predicted = reference.split(), hypothesis.split()
    target_spans: list[Span] = []
    predicted_spans: list[Span] = []
    matcher = SequenceMatcher(a=target, b=predicted, autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        target_words = " ".join(target[a_start:a_end])
        predicted_words = " ".join(predicted[b_start:b_end])
        if tag == "equal":
            target_spans.append(("same", target_words))
            predicted_spans.append(("same", predicted_words))
            continue
        if target_words:
            target_spans.append(("missing", target_words))
        if predicted_words:
            predicted_spans.append(("wrong" if tag == "replace" else "extra", predicted_words))
    return target_spans, predicted_spans

"""Word-level differences between a decode's target and prediction, for colouring them."""
from __future__ import annotations

from rapidfuzz.distance import Indel, Levenshtein

# Span kinds: "same" words match; "missing" target words the prediction lacks or got wrong;
# "wrong" prediction words that replace target words; "extra" prediction words with no target.
# The errors coloured are the errors the WER counts: "missing" + "extra" words = the word edit distance.
Span = tuple[str, str]
Opcode = tuple[str, int, int, int, int]


def diff_decode(reference: str, hypothesis: str) -> tuple[list[Span], list[Span]]:
    """(reference spans, hypothesis spans); the words of each side, in order, tagged by kind."""
    target, predicted = reference.split(), hypothesis.split()
    target_spans: list[Span] = []
    predicted_spans: list[Span] = []
    for tag, a_start, a_end, b_start, b_end in word_alignment(target, predicted):
        if tag == "equal":
            _append(target_spans, "same", target[a_start:a_end])
            _append(predicted_spans, "same", predicted[b_start:b_end])
            continue
        _append(target_spans, "missing", target[a_start:a_end])
        _append(predicted_spans, "wrong" if tag == "replace" else "extra", predicted[b_start:b_end])
    return target_spans, predicted_spans


def word_alignment(target: list[str], predicted: list[str]) -> list[Opcode]:
    """An alignment whose edits are as many as the WER counts (the Levenshtein distance).

    Of the alignments that cheap, the one keeping the most words in common reads best ("ABER" in
    a two-word guess at a twelve-word target shows as matched, not as wrong): the longest common
    subsequence's alignment is taken when pairing its gaps' words costs no more than the distance;
    otherwise Levenshtein's own opcodes, which always cost exactly the distance."""
    distance = Levenshtein.distance(target, predicted)
    common = _paired(Indel.opcodes(target, predicted))
    if sum(max(a_end - a_start, b_end - b_start) for tag, a_start, a_end, b_start, b_end in common
           if tag != "equal") == distance:
        return common
    return [tuple(opcode) for opcode in Levenshtein.opcodes(target, predicted)]


def _paired(opcodes) -> list[Opcode]:
    """Indel's opcodes (equal, delete, insert only) with each gap's deleted and inserted words
    paired off as replacements: a gap of a deletions and b insertions costs max(a, b)."""
    paired: list[Opcode] = []
    gap: list[int] | None = None  # [a_start, a_end, b_start, b_end] of the gap being collected
    for tag, a_start, a_end, b_start, b_end in [*opcodes, ("equal", -1, -1, -1, -1)]:
        if tag != "equal":
            if gap is None:
                gap = [a_start, a_end, b_start, b_end]
            gap[1], gap[3] = max(gap[1], a_end), max(gap[3], b_end)
            continue
        if gap is not None:
            a_start_gap, a_end_gap, b_start_gap, b_end_gap = gap
            replaced = min(a_end_gap - a_start_gap, b_end_gap - b_start_gap)
            if replaced:
                paired.append(("replace", a_start_gap, a_start_gap + replaced, b_start_gap, b_start_gap + replaced))
            if a_end_gap - a_start_gap > replaced:
                paired.append(("delete", a_start_gap + replaced, a_end_gap, b_end_gap, b_end_gap))
            if b_end_gap - b_start_gap > replaced:
                paired.append(("insert", a_end_gap, a_end_gap, b_start_gap + replaced, b_end_gap))
            gap = None
        if a_start >= 0:
            paired.append(("equal", a_start, a_end, b_start, b_end))
    return paired


def _append(spans: list[Span], kind: str, words: list[str]) -> None:
    """Add words of one kind; errors join the span before when it is of the same kind (one gap's
    replaced and deleted target words read as one run), matches stay one span per match."""
    if not words:
        return
    if spans and spans[-1][0] == kind != "same":
        spans[-1] = (kind, spans[-1][1] + " " + " ".join(words))
    else:
        spans.append((kind, " ".join(words)))

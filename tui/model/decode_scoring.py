"""Word and character error rates of sample decodes, by a real edit distance (rapidfuzz's Levenshtein)."""
from __future__ import annotations

from rapidfuzz.distance import Levenshtein

# rapidfuzz's C++ Levenshtein, not a Python double loop: a 1,500-word decode took 20 s in the
# hand-written one (on the UI thread, as decodes arrive) and takes milliseconds here. It compares
# lists of words as it does strings, by item, so words and characters share one function.


def edit_distance(reference, hypothesis) -> int:
    """Levenshtein distance between two sequences (strings or lists of words): substitutions,
    insertions and deletions all cost 1."""
    return Levenshtein.distance(reference, hypothesis)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER as a fraction; an empty reference scores 0 for an empty hypothesis, else 1."""
    ref_words, hyp_words = reference.split(), hypothesis.split()
    if not ref_words:
        return 0.0 if not hyp_words else 1.0
    return edit_distance(ref_words, hyp_words) / len(ref_words)


def char_error_rate(reference: str, hypothesis: str) -> float:
    """CER as a fraction, over the texts with runs of whitespace made one space."""
    ref_chars, hyp_chars = " ".join(reference.split()), " ".join(hypothesis.split())
    if not ref_chars:
        return 0.0 if not hyp_chars else 1.0
    return edit_distance(ref_chars, hyp_chars) / len(ref_chars)

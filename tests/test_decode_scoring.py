"""Decode WER/CER (rapidfuzz's Levenshtein) and the colouring drawn from the same alignment."""
from __future__ import annotations

import random

import pytest
from rapidfuzz.distance import Levenshtein

from tui.model.decode_diff import diff_decode, word_alignment
from tui.model.decode_scoring import char_error_rate, edit_distance, word_error_rate

VOCABULARY = "the a cat sat on mat dog ran nord sued regen grad".split()


def reference_edit_distance(reference, hypothesis) -> int:
    """The hand-written Levenshtein distance trainwatch used before rapidfuzz: the oracle."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_item in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_item in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_item != hyp_item))
        previous = current
    return previous[-1]


def random_pairs(seed: int, count: int, longest: int = 14) -> list[tuple[str, str]]:
    """Pairs of sentences from a small vocabulary, so they share words (and tie alignments) often."""
    generator = random.Random(seed)
    words = lambda: [generator.choice(VOCABULARY) for _ in range(generator.randint(0, longest))]  # noqa: E731
    return [(" ".join(words()), " ".join(words())) for _ in range(count)]


def errors_coloured(reference: str, hypothesis: str) -> int:
    """Edits the colouring shows: target words marked missing plus prediction words marked extra
    (a wrong word is the other half of a missing one: one substitution)."""
    target_spans, predicted_spans = diff_decode(reference, hypothesis)
    missing = sum(len(words.split()) for kind, words in target_spans if kind == "missing")
    extra = sum(len(words.split()) for kind, words in predicted_spans if kind == "extra")
    return missing + extra


def test_known_values():
    assert word_error_rate("the cat sat", "the cat") == pytest.approx(1 / 3)
    assert word_error_rate("a b c d", "a x c d e") == 0.5  # one substitution, one insertion
    assert word_error_rate("", "") == 0.0 and word_error_rate("", "anything") == 1.0
    assert word_error_rate("a b", "") == 1.0
    assert char_error_rate("kitten", "sitting") == pytest.approx(3 / 6)
    assert char_error_rate("the  cat\n", "the cat") == 0.0  # runs of whitespace are one space
    assert char_error_rate("  ", "") == 0.0 and char_error_rate("", "x") == 1.0
    assert edit_distance(["a", "b"], ["b", "a"]) == 2


def test_rates_are_the_hand_written_distances_numbers():
    for reference, hypothesis in random_pairs(seed=14, count=600):
        ref_words, hyp_words = reference.split(), hypothesis.split()
        if ref_words:
            assert word_error_rate(reference, hypothesis) == reference_edit_distance(ref_words, hyp_words) / len(ref_words)
            assert char_error_rate(reference, hypothesis) == reference_edit_distance(reference, hypothesis) / len(reference)


def test_wer_counts_exactly_the_edits_the_opcodes_and_the_colours_show():
    checked = 0
    for reference, hypothesis in random_pairs(seed=2024, count=3000):
        target, predicted = reference.split(), hypothesis.split()
        if not target:
            continue
        opcode_edits = sum(max(op.src_end - op.src_start, op.dest_end - op.dest_start)
                           for op in Levenshtein.opcodes(target, predicted) if op.tag != "equal")
        wer = word_error_rate(reference, hypothesis)
        assert wer == opcode_edits / len(target)
        assert wer == errors_coloured(reference, hypothesis) / len(target)
        # the words shown as matching are in both texts, in order, and each side's spans spell it out
        target_spans, predicted_spans = diff_decode(reference, hypothesis)
        assert " ".join(words for _, words in target_spans).split() == target
        assert " ".join(words for _, words in predicted_spans).split() == predicted
        same_target = [w for kind, words in target_spans if kind == "same" for w in words.split()]
        same_predicted = [w for kind, words in predicted_spans if kind == "same" for w in words.split()]
        assert same_target == same_predicted
        checked += 1
    assert checked > 2500


def test_alignment_keeps_the_most_matches_the_wer_allows():
    # 12 target words, a 2-word guess whose first word is the target's last: 11 deletions, a match
    # and an insertion cost 12, as do 2 substitutions and 10 deletions; the first shows ABER matched.
    reference = "UND TAG BLEIBEN KUEHL SECHS GRAD BAYERN REGION AUCH S+H AUCH ABER"
    assert diff_decode(reference, "ABER ZWANZIG") == (
        [("missing", "UND TAG BLEIBEN KUEHL SECHS GRAD BAYERN REGION AUCH S+H AUCH"), ("same", "ABER")],
        [("same", "ABER"), ("extra", "ZWANZIG")])
    assert word_error_rate(reference, "ABER ZWANZIG") == 1.0
    more_matches = 0
    for reference, hypothesis in random_pairs(seed=7, count=2000):
        target, predicted = reference.split(), hypothesis.split()
        ours = sum(a_end - a_start for tag, a_start, a_end, _, _ in word_alignment(target, predicted) if tag == "equal")
        theirs = sum(op.src_end - op.src_start for op in Levenshtein.opcodes(target, predicted) if op.tag == "equal")
        assert ours >= theirs
        more_matches += ours > theirs
    assert more_matches > 0  # the preference does something on pairs like these


def test_colouring_of_a_known_pair():
    target_spans, predicted_spans = diff_decode("the cat sat on the mat", "the bat sat on mat today")
    assert target_spans == [("same", "the"), ("missing", "cat"), ("same", "sat on"), ("missing", "the"),
                            ("same", "mat")]
    assert predicted_spans == [("same", "the"), ("wrong", "bat"), ("same", "sat on"), ("same", "mat"),
                               ("extra", "today")]
    assert word_error_rate("the cat sat on the mat", "the bat sat on mat today") == 0.5
    assert diff_decode("a b", "") == ([("missing", "a b")], [])
    assert diff_decode("", "x y") == ([], [("extra", "x y")])
    assert diff_decode("", "") == ([], [])


def test_a_1500_word_decode_scores_and_colours():
    # The hand-written distance took 20 s for one such decode, on the UI thread; the figure is in
    # tests/benchmarks/perf.py. Every 10th word wrong, and the last 15 words dropped.
    generator = random.Random(1500)
    reference = [generator.choice(VOCABULARY) + str(index % 7) for index in range(1500)]
    hypothesis = [("X" + word if index % 10 == 0 else word) for index, word in enumerate(reference)][:-15]
    reference_text, hypothesis_text = " ".join(reference), " ".join(hypothesis)
    assert word_error_rate(reference_text, hypothesis_text) == (149 + 15) / 1500
    assert char_error_rate(reference_text, hypothesis_text) > 0
    target_spans, predicted_spans = diff_decode(reference_text, hypothesis_text)
    assert sum(kind == "wrong" for kind, _ in predicted_spans) == 149
    assert errors_coloured(reference_text, hypothesis_text) == 149 + 15

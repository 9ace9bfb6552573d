"""Recommendations: concrete edits in plain words, from fixed rules (v1) or from the model (v3).

v1 checks each actionable feature against a fixed threshold. v3 asks the model: for every
actionable feature it moves the value to what is typical of well-received questions, scores all
these variants in ONE batched model call, and keeps the edits that raise the score.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mleditor.core.features import DENSE_FEATURES, DENSE_INDEX

MIN_GAIN = 0.005
MAX_RECOMMENDATIONS = 5


@dataclass(frozen=True)
class Recommendation:
    """One suggested edit: what to change, the current and typical values, and the expected gain."""

    feature: str
    message: str
    current: float
    typical: float
    gain: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Rule:
    """A v1 check: `fails(value)` says the question should change `feature` toward `target`."""

    feature: str
    target: float
    fails: Callable[[float, dict[str, float]], bool]
    message: Callable[[float, float], str]


def _fmt(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-9 or abs(value) >= 10 else f"{value:.1f}"


# Each entry says how to phrase an edit of one actionable feature, given (current, typical).
PHRASES: dict[str, Callable[[float, float], str]] = {
    "title_has_question_mark": lambda c, t: "Add a question mark: your title does not ask anything",
    "title_starts_with_question_word": lambda c, t: "Start your title with a question word (how, what, why, which...)",
    "title_words": lambda c, t: (
        f"{'Lengthen' if c < t else 'Shorten'} your title: {_fmt(c)} words, well-received questions use about {_fmt(t)}"
    ),
    "title_uppercase_ratio": lambda c, t: (
        f"Don't write your title in capitals: {c:.0%} of its letters are upper case"
    ),
    "body_words": lambda c, t: (
        f"{'Add detail' if c < t else 'Cut it down'}: your question has {_fmt(c)} words, "
        f"well-received questions have about {_fmt(t)}"
    ),
    "words_per_sentence": lambda c, t: (
        f"{'Shorten' if c > t else 'Combine'} your sentences: {_fmt(c)} words on average, "
        f"well-received questions average {_fmt(t)}"
    ),
    "syllables_per_word": lambda c, t: (
        f"Use simpler words: {c:.2f} syllables per word, well-received questions use {t:.2f}"
    ),
    "repetition_ratio": lambda c, t: (
        f"Vary your wording: {c:.0%} of your longer words are repeats (typical: {t:.0%})"
    ),
    "paragraphs": lambda c, t: (
        f"{'Break your text into paragraphs' if c < t else 'Merge some paragraphs'}: "
        f"{_fmt(c)} now, well-received questions have about {_fmt(t)}"
    ),
    "list_items": lambda c, t: f"Use a list for steps or options: {_fmt(c)} list items now, typical {_fmt(t)}",
    "code_blocks": lambda c, t: (
        f"{'Show the relevant code or output' if c < t else 'Keep only the relevant code'}: "
        f"{_fmt(c)} code blocks now, typical {_fmt(t)}"
    ),
    "links": lambda c, t: f"Link to what you have read or tried: {_fmt(c)} links now, typical {_fmt(t)}",
    "images": lambda c, t: f"{'Add' if c < t else 'Remove'} images: {_fmt(c)} now, typical {_fmt(t)}",
    "has_greeting_or_thanks": lambda c, t: "Remove greetings and thanks: get straight to the question",
    "body_exclamations": lambda c, t: f"Drop the exclamation marks: {_fmt(c)} now, typical {_fmt(t)}",
    "body_question_marks": lambda c, t: (
        f"{'State your question explicitly, ending with ?' if c < t else 'Ask one focused question'}: "
        f"{_fmt(c)} question marks now, typical {_fmt(t)}"
    ),
}
ACTIONABLE_FEATURES: tuple[str, ...] = tuple(PHRASES)

# Advice only makes sense one way for some features: nobody should be told to write longer
# sentences, add exclamation marks or shout. "up" = only suggest increasing, "down" = decreasing.
DIRECTIONS: dict[str, str] = {
    "title_has_question_mark": "up",
    "title_starts_with_question_word": "up",
    "title_uppercase_ratio": "down",
    "words_per_sentence": "down",
    "syllables_per_word": "down",
    "repetition_ratio": "down",
    "paragraphs": "up",
    "list_items": "up",
    "links": "up",
    "has_greeting_or_thanks": "down",
    "body_exclamations": "down",
}
# Statistics of the prose say little about a body of a few words: the advice there is "add detail".
NEEDS_PROSE = frozenset({"words_per_sentence", "syllables_per_word", "repetition_ratio", "paragraphs", "list_items"})
MIN_WORDS_FOR_PROSE_ADVICE = 20


def is_sensible_edit(feature: str, current: float, typical: float, body_words: float) -> bool:
    """Whether moving `feature` from current to typical is advice a person could follow."""
    if abs(current - typical) <= 1e-9:
        return False
    if feature in NEEDS_PROSE and body_words < MIN_WORDS_FOR_PROSE_ADVICE:
        return False
    direction = DIRECTIONS.get(feature, "both")
    return direction == "both" or (direction == "up") == (typical > current)

V1_RULES: tuple[Rule, ...] = (
    Rule("title_has_question_mark", 1, lambda v, d: v < 1, PHRASES["title_has_question_mark"]),
    Rule("title_words", 8, lambda v, d: v < 4 or v > 20, PHRASES["title_words"]),
    Rule("title_uppercase_ratio", 0.1, lambda v, d: v > 0.5 and d["title_chars"] > 8, PHRASES["title_uppercase_ratio"]),
    Rule("body_words", 120, lambda v, d: v < 40 or v > 800, PHRASES["body_words"]),
    Rule("words_per_sentence", 17, lambda v, d: v > 25, PHRASES["words_per_sentence"]),
    Rule("syllables_per_word", 1.45, lambda v, d: v > 1.75 and d["body_words"] >= 20, PHRASES["syllables_per_word"]),
    Rule("repetition_ratio", 0.25, lambda v, d: v > 0.45 and d["body_words"] >= 40, PHRASES["repetition_ratio"]),
    Rule("paragraphs", 3, lambda v, d: v <= 1 and d["body_words"] > 150, PHRASES["paragraphs"]),
    Rule("has_greeting_or_thanks", 0, lambda v, d: v > 0, PHRASES["has_greeting_or_thanks"]),
    Rule("body_exclamations", 0, lambda v, d: v > 2, PHRASES["body_exclamations"]),
)


def rule_recommendations(dense: dict[str, float]) -> list[Recommendation]:
    """v1: one recommendation per failed rule, in the rules' order of importance."""
    return [
        Recommendation(rule.feature, rule.message(dense[rule.feature], rule.target), dense[rule.feature], rule.target)
        for rule in V1_RULES
        if rule.fails(dense[rule.feature], dense)
    ]


def rule_score(failed_rules: int, calibration: list[float]) -> float:
    """v1's score: the observed well-received rate of training questions that failed as many rules."""
    return float(calibration[min(failed_rules, len(calibration) - 1)])


def _flesch(words_per_sentence: float, syllables_per_word: float) -> float:
    return min(max(206.835 - 1.015 * words_per_sentence - 84.6 * syllables_per_word, -100.0), 121.22)


# Features that describe the prose of a body: an empty body moves to the typical body as a whole.
BODY_PROSE = ("body_words", "body_chars", "body_sentences", "words_per_sentence", "chars_per_word",
              "syllables_per_word", "flesch_reading_ease", "repetition_ratio", "paragraphs")


def counterfactual(dense: np.ndarray, feature: str, value: float,
                   typical: dict[str, float] | None = None) -> np.ndarray:
    """The dense vector with `feature` set to `value` and the features derived from it kept consistent."""
    row = dense.copy()
    index = DENSE_INDEX
    old = row[index[feature]]
    row[index[feature]] = value
    words = row[index["body_words"]]
    if feature == "body_words" and old == 0 and typical is not None:
        for name in BODY_PROSE:
            row[index[name]] = typical[name]
        return row
    if feature == "words_per_sentence" and value > 0:
        row[index["body_sentences"]] = words / value if words else row[index["body_sentences"]]
    elif feature == "body_words" and old > 0:
        scale = value / old
        for name in ("body_chars", "body_sentences", "paragraphs"):
            row[index[name]] = max(1.0, round(row[index[name]] * scale))
    if feature in ("words_per_sentence", "syllables_per_word", "body_words") and row[index["body_words"]] > 0:
        row[index["flesch_reading_ease"]] = _flesch(row[index["words_per_sentence"]], row[index["syllables_per_word"]])
    return row


def counterfactual_batch(dense: np.ndarray, typical: dict[str, float]) -> tuple[list[str], np.ndarray]:
    """Row 0 is the question itself; one more row per actionable feature that differs from typical."""
    words = dense[DENSE_INDEX["body_words"]]
    features = [
        name for name in ACTIONABLE_FEATURES
        if is_sensible_edit(name, float(dense[DENSE_INDEX[name]]), typical[name], words)
    ]
    rows = [dense] + [counterfactual(dense, name, typical[name], typical) for name in features]
    return features, np.stack(rows)


def model_recommendations(
    dense: np.ndarray, typical: dict[str, float], scores: np.ndarray, features: list[str]
) -> list[Recommendation]:
    """v3: the edits whose counterfactual score beats the question's own score, best first."""
    base = float(scores[0])
    found = []
    for name, score in zip(features, scores[1:]):
        gain = float(score) - base
        if gain >= MIN_GAIN:
            current = float(dense[DENSE_INDEX[name]])
            phrase = PHRASES[name](current, typical[name])
            found.append(Recommendation(name, phrase, current, typical[name], round(gain, 4)))
    found.sort(key=lambda rec: rec.gain or 0.0, reverse=True)
    return found[:MAX_RECOMMENDATIONS]


assert set(ACTIONABLE_FEATURES) <= set(DENSE_FEATURES)

"""What every featurizer implementation shares (FEATURES.md): the spec version, the caps, the word
lists of §8, the dense features' names and order, and `Features`, the result.

The implementations (`mleditor.core.features`, the reference; `mleditor.core.native_features`,
compiled) import this module; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPEC_VERSION = "1.0"
N_BUCKETS = 65_536
MAX_BODY_TOKENS_FOR_NGRAMS = 5_000
MAX_NGRAMS = 4_096

QUESTION_WORDS = frozenset(
    "what why how when where which who whom whose is are am can could should would will "
    "do does did has have had was were may might must shall "
    "que quoi pourquoi comment quand où quel quelle quels quelles qui est".split()
)
GREETING_WORDS = frozenset("hi hello hey thanks thank thx please merci bonjour salut".split())

DENSE_FEATURES: tuple[str, ...] = (
    "title_chars",
    "title_words",
    "title_has_question_mark",
    "title_starts_with_question_word",
    "title_uppercase_ratio",
    "body_chars",
    "body_words",
    "body_sentences",
    "words_per_sentence",
    "chars_per_word",
    "syllables_per_word",
    "flesch_reading_ease",
    "repetition_ratio",
    "code_blocks",
    "inline_code",
    "links",
    "images",
    "list_items",
    "paragraphs",
    "code_char_ratio",
    "body_question_marks",
    "body_exclamations",
    "has_greeting_or_thanks",
    "title_words_in_body_ratio",
)
DENSE_INDEX = {name: i for i, name in enumerate(DENSE_FEATURES)}


@dataclass(frozen=True)
class Features:
    """A featurized question: sorted unique n-gram bucket ids (1..N_BUCKETS) and the dense vector."""

    ngram_ids: np.ndarray  # int64 [n], n ≤ MAX_NGRAMS
    dense: np.ndarray  # float64 [len(DENSE_FEATURES)]

    def dense_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in zip(DENSE_FEATURES, self.dense)}

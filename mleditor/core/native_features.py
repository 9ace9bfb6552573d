"""The compiled featurizer (`_native_featurizer.c`, FEATURES.md §3-§8), wrapped to return `Features`.

Built by the package's build backend at install (setup.py). It reads the same Unicode tables as
the reference (CPython's) and gives the same n-gram ids and bit-identical dense values;
tests/core/test_native_featurizer.py proves it on the golden vectors and on generated inputs.
Importing this module fails with ImportError where the extension was not built;
`mleditor.core.features.use_featurizer` (which imports this module, never the other way round)
turns that into the reference and a warning.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mleditor.core import _native_featurizer
from mleditor.core.feature_spec import DENSE_FEATURES, GREETING_WORDS, QUESTION_WORDS, Features

_native_featurizer.set_word_lists(sorted(QUESTION_WORDS), sorted(GREETING_WORDS))
_N_DENSE = len(DENSE_FEATURES)


class NativeFeaturizer:
    """FEATURES.md §3-§8 in C, on text already normalized by §2."""

    name = "native"

    def featurize_normalized(self, title: str, body: str) -> Features:
        ids, dense = _native_featurizer.featurize_normalized(title, body)
        return Features(ngram_ids=np.frombuffer(ids, dtype=np.int64), dense=np.frombuffer(dense, dtype=np.float64))

    def featurize_many_normalized(self, titles: Sequence[str], bodies: Sequence[str]) -> list[Features]:
        ids, offsets, dense = _native_featurizer.featurize_many(titles, bodies)
        all_ids = np.frombuffer(ids, dtype=np.int64)
        bounds = np.frombuffer(offsets, dtype=np.int64).tolist()
        rows = np.frombuffer(dense, dtype=np.float64).reshape(-1, _N_DENSE)
        return [Features(ngram_ids=all_ids[bounds[i]:bounds[i + 1]], dense=rows[i]) for i in range(len(rows))]


def murmurhash3_32(data: bytes) -> int:
    """MurmurHash3 x86 32-bit, seed 0, as the compiled featurizer computes it (FEATURES.md §7)."""
    return int(_native_featurizer.murmurhash3_32(data))

"""Regenerate the golden vectors from the cases, for a NEW spec version only.

    python tests/golden/regenerate.py

Golden vectors pin the featurizer: never regenerate them to make a failing test pass without
bumping SPEC_VERSION and writing the change into FEATURES.md's changelog.
"""

from __future__ import annotations

import json
from pathlib import Path

from mleditor.core.features import DENSE_FEATURES, SPEC_VERSION, featurize

HERE = Path(__file__).parent


def expand(case: dict) -> dict:
    """Cases may build long inputs instead of literal strings:
    {"repeat": [text, n]} is text n times; {"numbered": [word, n]} is "word0 word1 ... word{n-1}"."""
    out = dict(case)
    for field in ("title", "body"):
        value = case[field]
        if isinstance(value, dict) and "repeat" in value:
            text, times = value["repeat"]
            out[field] = text * times
        elif isinstance(value, dict):
            word, count = value["numbered"]
            out[field] = " ".join(f"{word}{i}" for i in range(count))
    return out


def main() -> None:
    cases = json.loads((HERE / "cases.json").read_text(encoding="utf-8"))
    vectors = []
    for case in cases:
        expanded = expand(case)
        features = featurize(expanded["title"], expanded["body"])
        vectors.append(
            {
                "name": case["name"],
                "title": case["title"],
                "body": case["body"],
                "ngram_ids": features.ngram_ids.tolist(),
                "dense": dict(zip(DENSE_FEATURES, features.dense.tolist())),
            }
        )
    out = HERE / f"features_v{SPEC_VERSION}.json"
    payload = {"spec_version": SPEC_VERSION, "vectors": vectors}
    out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors)} vectors to {out}")


if __name__ == "__main__":
    main()

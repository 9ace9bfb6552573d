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
    """Cases may build long inputs instead of literal strings (see `build`)."""
    out = dict(case)
    for field in ("title", "body"):
        out[field] = build(case[field])
    return out


def build(value: str | dict) -> str:
    """A literal string, or {"repeat": [text, n]}: text n times; {"numbered": [word, n]}: "word0 word1 ... word{n-1}";
    {"concat": [part, ...]}: the parts (each built) joined; {"nested": [prefix, text, n]}: n lines, line i being
    prefix i times then text."""
    if isinstance(value, str):
        return value
    if "repeat" in value:
        text, times = value["repeat"]
        return build(text) * times
    if "numbered" in value:
        word, count = value["numbered"]
        return " ".join(f"{word}{i}" for i in range(count))
    if "concat" in value:
        return "".join(build(part) for part in value["concat"])
    prefix, text, count = value["nested"]
    return "\n".join(prefix * i + text for i in range(count))


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

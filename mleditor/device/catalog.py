"""Every device variant by name: the ONNX Runtime ones (`compress`) and LiteRT (`litert`).

The factory of the variant family: `variants.py` is the base both builder modules import; this
module imports them, and nothing imports it but the command line and the benchmark.
"""

from __future__ import annotations

import importlib.util

from mleditor.device.variants import VariantSpec
from mleditor.errors import InvalidInputError

# The extras' import names: a variant whose extra is missing is listed, but not built.
_EXTRA_MODULES = {"train": "torch", "litert": "ai_edge_litert", "device": "onnx"}


def variant_specs() -> dict[str, VariantSpec]:
    """Every variant this mleditor knows, by name, in the order of the table."""
    from mleditor.device import compress, litert

    return {spec.name: spec for spec in (*compress.SPECS, *litert.SPECS)}


def find_variant(name: str) -> VariantSpec:
    """The variant called `name`; an unknown name is an InvalidInputError listing the known ones."""
    specs = variant_specs()
    if name not in specs:
        raise InvalidInputError(f"unknown device variant {name!r}; choose one of {', '.join(specs)} "
                                "(`mleditor device list` describes them)")
    return specs[name]


def extra_installed(spec: VariantSpec) -> bool:
    """Whether the pip extra the variant's builder needs is installed here."""
    return spec.extra is None or importlib.util.find_spec(_EXTRA_MODULES.get(spec.extra, spec.extra)) is not None


# The rule that picks the default device variant (README, "Which door?"): the smallest model file whose
# test ROC AUC is at most this much below the source's and whose scores move by at most this much.
DEFAULT_MAX_AUC_LOSS = 0.002
DEFAULT_MAX_ABS_DELTA = 0.005


def meets_default_rule(quality: dict[str, object] | None, max_abs_delta_score: float) -> bool:
    """Whether a measured variant may be the default: ΔAUC within DEFAULT_MAX_AUC_LOSS, |Δscore| within the limit."""
    if not quality:
        return False
    test_auc, source_auc = quality.get("test_auc"), quality.get("source_test_auc")
    if not isinstance(test_auc, (int, float)) or not isinstance(source_auc, (int, float)):
        return False
    return source_auc - test_auc <= DEFAULT_MAX_AUC_LOSS and max_abs_delta_score <= DEFAULT_MAX_ABS_DELTA


def default_variant(candidates: dict[str, tuple[int, dict[str, object] | None, float]]) -> str | None:
    """The default among `name → (model file bytes, quality, max |Δscore|)`: the smallest that meets the rule."""
    eligible = [(size, name) for name, (size, quality, delta) in candidates.items()
                if meets_default_rule(quality, delta)]
    return min(eligible)[1] if eligible else None

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

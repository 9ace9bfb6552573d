"""The compiled part of the package: the native featurizer (FEATURES.md §3-§8 in C).

Everything else is declared in pyproject.toml. The extension is optional: where it cannot be
built (no C compiler or no Python headers) the install still succeeds and `mleditor.core.features`
falls back to the pure-Python reference with a one-line warning.
"""

import sys

from setuptools import Extension, setup

# No fused multiply-add: the dense values must round exactly as Python's float arithmetic does.
COMPILE_ARGS = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension(
            "mleditor.core._native_featurizer",
            ["mleditor/core/_native_featurizer.c"],
            extra_compile_args=COMPILE_ARGS,
            optional=True,
        )
    ]
)

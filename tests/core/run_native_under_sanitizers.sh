#!/usr/bin/env bash
# Build the native featurizer with AddressSanitizer and UndefinedBehaviorSanitizer into a scratch
# folder and run the differential fuzz (native vs reference) against that build.
#   bash tests/core/run_native_under_sanitizers.sh [SECONDS]
# Needs gcc with libasan/libubsan (Debian: gcc). Any sanitizer report aborts with a non-zero status.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
python=".venv/bin/python"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
include="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
suffix="$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
mkdir -p "$scratch/mleditor/core"
gcc -shared -fPIC -O1 -g -fno-omit-frame-pointer -ffp-contract=off -fsanitize=address,undefined \
  -fno-sanitize-recover=undefined -I"$include" mleditor/core/_native_featurizer.c \
  -o "$scratch/mleditor/core/_native_featurizer$suffix"
# The package from the repository, except its compiled featurizer, which comes from the scratch build.
cat > "$scratch/sitecustomize.py" <<PY
import importlib.machinery, importlib.util, sys
spec = importlib.util.spec_from_file_location("mleditor.core._native_featurizer",
                                              "$scratch/mleditor/core/_native_featurizer$suffix")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["mleditor.core._native_featurizer"] = module
PY
export PYTHONPATH="$scratch:$PWD"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"  # CPython's own allocations are not leaks to report
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
"$python" -c 'import importlib; m = importlib.import_module("mleditor.core._native_featurizer"); assert "'"$scratch"'" in m.__file__, m.__file__; print("sanitized build:", m.__file__)'
"$python" -m tests.core.native_fuzz --seconds "$seconds" --check-reference

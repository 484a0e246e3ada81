#!/usr/bin/env bash
# Builds llama.cpp's own tools (llama-bench by default) from the llama-cpp-python source package that
# llamacli runs on, as the native peer for benchmarks: the same llama.cpp commit, GGML_NATIVE, and the
# same AMX-off flags as install.sh (scripts/cpu_flags.sh). Prints the directory holding the binaries.
#   scripts/native_tools.sh [TARGET...]      e.g. scripts/native_tools.sh llama-bench llama-completion
# (llama-bench for scripts/bench_cpu.py, llama-completion for scripts/bench_prompt_cache.py; a target added
# later builds on the same tree, only what it needs)
# Cached under ${XDG_CACHE_HOME:-~/.cache}/llamacli-native/<version>-<flags>/ (a rebuild takes ~5 min on 2 cores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/cpu_flags.sh"
requirement=$(llama_cpp_requirement)
version=${requirement#*==}
flags=$(llama_cpu_cflags)
key="$version-$(echo "native $flags" | sha256sum | cut -c1-12)"
root="${XDG_CACHE_HOME:-$HOME/.cache}/llamacli-native/$key"
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(llama-bench)

missing=0
for t in "${targets[@]}"; do [ -x "$root/build/bin/$t" ] || missing=1; done
if [ "$missing" = 1 ]; then
  mkdir -p "$root"
  if [ ! -d "$root/src" ]; then
    python3 -m pip download --quiet --no-deps --no-binary :all: -d "$root/dl" "$requirement" >&2
    mkdir -p "$root/src" && tar -xzf "$root"/dl/*.tar.gz -C "$root/src" --strip-components=1
  fi
  echo "Building ${targets[*]} from $requirement (llama.cpp, GGML_NATIVE${flags:+, $flags}); a few minutes, once..." >&2
  CFLAGS="$flags ${CFLAGS:-}" CXXFLAGS="$flags ${CXXFLAGS:-}" cmake -S "$root/src/vendor/llama.cpp" -B "$root/build" \
    -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON >"$root/configure.log" 2>&1 \
    || { tail -20 "$root/configure.log" >&2; exit 1; }
  cmake --build "$root/build" --target "${targets[@]}" -j "$(nproc 2>/dev/null || echo 2)" >"$root/build.log" 2>&1 \
    || { tail -20 "$root/build.log" >&2; exit 1; }
fi
echo "$root/build/bin"

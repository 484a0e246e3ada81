#!/usr/bin/env bash
# Sourced by install.sh and native_tools.sh: the compiler flags that keep llama.cpp's build off CPU
# features whose kernels crash, while GGML_NATIVE keeps every other feature of this CPU.
#
# AMX (Intel Sapphire Rapids and later: amx_tile in /proc/cpuinfo): llama-cpp-python 0.3.36 builds
# llama.cpp with -march=native, which compiles its AMX matrix kernels; their tile configuration is
# optimised away and the first batched matmul dies with SIGILL (llama.cpp PR #26954, open). GCC and
# Clang let an explicit -mno-amx-* win over -march=native whatever the order, so the AMX kernels are
# left out (ggml compiles them only under __AMX_INT8__) and AVX-512, VNNI, BF16 and repacking stay.
# LLAMACLI_BUILD_NO_AMX=1 forces these flags on any CPU (to try the path on a machine without AMX).

llama_cpu_cflags() {
  if ! grep -qw amx_tile /proc/cpuinfo 2>/dev/null && [ -z "${LLAMACLI_BUILD_NO_AMX:-}" ]; then
    return 0
  fi
  local flags="" feature
  for feature in amx-tile amx-int8 amx-bf16 amx-fp16 amx-complex; do
    # Only the flags this compiler knows (GCC 12 has no amx-fp16).
    if echo 'int main(void){return 0;}' | "${CC:-cc}" -x c "-mno-$feature" -o /dev/null - 2>/dev/null; then
      flags="$flags -mno-$feature"
    fi
  done
  echo "${flags# }"
}

# The llama-cpp-python requirement pinned in pyproject.toml (one place for the version).
llama_cpp_requirement() {
  grep -o '"llama-cpp-python==[^"]*"' "$(dirname "${BASH_SOURCE[0]}")/../pyproject.toml" | tr -d '"'
}

#!/usr/bin/env bash
# Quick start, command 1: install everything, then answer a prompt with the bundled model, offline.
#   scripts/setup.sh ["your prompt"]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
prompt=${1:-"In one sentence: what is a large language model?"}
HF_HUB_OFFLINE=1 .venv/bin/llamacli run --offline smollm2:135m "$prompt" -n 128

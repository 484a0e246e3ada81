#!/usr/bin/env bash
# Quick start, command 2: install what the tests need, then lint, type-check and run the whole suite
# (slow tests included). Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow" -x
# "slow" marks every test that loads the model (in process or through `llamacli run/chat/recommend/doctor`),
# requantizes it (the loopback Hub's files) or calibrates this machine; `-m "not slow"` is the quick pass
# (under a minute on an idle 2-core machine), and tests/support/quick.py refuses a quick test that does any.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/ruff check llamacli tests scripts
.venv/bin/ruff format --check llamacli tests scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
# llama.cpp's own llama-server, the peer of tests/remote/test_against_llama_server.py: built here (from the
# same llama-cpp-python source package; ~5 min on 2 cores, once, then cached) so its cost shows in this log
# rather than inside a test's timeout. The quick pass does not need it. cmake comes from the venv if the
# machine has none.
case " $* " in
  *" not slow "*) ;;
  *)
    command -v cmake >/dev/null || .venv/bin/python -m pip install --quiet --disable-pip-version-check cmake
    PATH="$PWD/.venv/bin:$PATH" bash scripts/native_tools.sh llama-server >/dev/null
    ;;
esac
.venv/bin/python -m pytest "$@"

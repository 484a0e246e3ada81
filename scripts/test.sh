#!/usr/bin/env bash
# Quick start, command 2: install what the tests need, then lint, type-check and run the whole suite
# (slow tests included). Extra arguments go to pytest, e.g. scripts/test.sh -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --dev
.venv/bin/ruff check llamacli tests scripts
.venv/bin/ruff format --check llamacli tests scripts
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest "$@"

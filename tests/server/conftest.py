"""Servers shared by the server's tests: one with the bundled model loaded (slow), one with none (quick)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.serving import Served, start_serve

MODEL = "smollm2:135m"


def _home(tmp_path_factory: pytest.TempPathFactory, name: str) -> dict[str, str]:
    home = tmp_path_factory.mktemp(name)
    return {
        "LLAMACLI_HOME": str(home / "llamacli-home"),
        "HF_HOME": str(home / "hf-home"),
        "HF_HUB_OFFLINE": "1",
        "NO_COLOR": "1",
        "LLAMACLI_MODEL": "",
    }


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`llamacli serve smollm2:135m --parallel 4`, the bundled model loaded, offline (heavy: slow tests only)."""
    env = _home(tmp_path_factory, "served")
    server = start_serve(MODEL, "--parallel", "4", "--ctx", "2048", env=env)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def bare_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`llamacli serve` with no model loaded, offline: for what is refused before any model is needed."""
    env = _home(tmp_path_factory, "bare-served")
    server = start_serve("--api-key", "sekrit", env=env, timeout=60)
    yield server
    server.stop()


@pytest.fixture
def key_headers() -> dict[str, str]:
    return {"Authorization": "Bearer sekrit"}


os.environ.setdefault("OPENAI_API_KEY", "none")  # the openai client insists on one; the served one has none

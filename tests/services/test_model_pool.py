"""The server's model pool (services/model_pool.py) with the real model: one load per model whatever it is
called, keep-alive, the least recently used idle model unloaded when a new one does not fit, never a busy one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamacli.errors import ModelNotFound, ModelNotLocal
from llamacli.services import run as run_service
from llamacli.services.loading import Feedback, Policy
from llamacli.services.model_pool import FOREVER, ModelPool, PoolConfig

pytestmark = pytest.mark.slow
MODEL = "smollm2:135m"


def config(**overrides: object) -> PoolConfig:
    params = run_service.load_params(n_ctx=512, prompt_cache=False)
    settings: dict[str, object] = {"parallel": 2, "policy": Policy(offline=True), **overrides}
    return PoolConfig(params, **settings)  # type: ignore[arg-type]


@pytest.fixture
def notices() -> list[str]:
    return []


@pytest.fixture
def pool(notices: list[str]) -> Iterator[ModelPool]:
    opened = ModelPool(config(), Feedback(notify=notices.append))
    yield opened
    opened.close()


@pytest.fixture
def second_model(smollm2_path: Path, tmp_path: Path) -> Path:
    """Another model file (a copy: a different path is a different model to the pool)."""
    return Path(shutil.copy(smollm2_path, tmp_path / "other.gguf"))


def test_one_load_per_model_whatever_name_it_is_asked_by(pool: ModelPool, smollm2_path: Path) -> None:
    first = pool.acquire(MODEL)
    by_path = pool.acquire(str(smollm2_path))
    assert by_path is first and first.users == 2
    assert first.model.sequences == 2 and first.model.n_ctx == 512
    pool.release(first)
    pool.release(by_path)
    assert pool.loaded() == [first] and first.expires_at is not None


def test_keep_alive_zero_unloads_at_release_and_sweep_unloads_the_expired(pool: ModelPool, second_model: Path) -> None:
    runner = pool.acquire(MODEL, keep_alive=0)
    pool.release(runner)
    assert pool.loaded() == []
    other = pool.acquire(str(second_model), keep_alive=30)
    pool.release(other)
    assert other.expires_at is not None
    assert pool.sweep(now=other.expires_at - 1) == []
    assert pool.sweep(now=other.expires_at + 1) == [other.name] and pool.loaded() == []


def test_a_preloaded_model_never_expires(pool: ModelPool) -> None:
    runner = pool.preload(MODEL)
    assert runner.keep_alive == FOREVER and runner.expires_at is None
    assert pool.sweep(now=1e12) == [] and pool.loaded() == [runner]


def test_a_model_that_does_not_fit_beside_an_idle_one_unloads_it_first(second_model: Path, notices: list[str]) -> None:
    probe = ModelPool(config())
    need = probe.acquire(MODEL).need
    probe.close()
    small = ModelPool(config(budget=int(need * 1.5)), Feedback(notify=notices.append))
    try:
        first = small.acquire(MODEL)
        small.release(first)
        second = small.acquire(str(second_model))
        assert small.loaded() == [second]
        assert any(MODEL in line and "unloading" in line for line in notices)
        # A busy model is never unloaded: both stay, over the budget, until one is released.
        third = small.acquire(MODEL)
        assert {r.name for r in small.loaded()} == {MODEL, second.name}
        small.release(second)
        small.release(third)
    finally:
        small.close()


def test_a_name_that_is_not_here_is_refused_without_loading(pool: ModelPool) -> None:
    with pytest.raises(ModelNotFound):
        pool.acquire("no-such-model:1b")
    with pytest.raises(ModelNotLocal):
        pool.acquire("llama3.2:1b")  # known, not downloaded, and the pool is offline
    assert pool.loaded() == []

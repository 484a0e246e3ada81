"""The loading service against the real store, the loopback Hub and (slow) the real model.

What every front end gets: a missing or changed model pulled first with a notice, offline refused before
any request, a model that will not fit loaded with a warning, the picker's choice kept for scripts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from llamacli.base.offline import offline_env
from llamacli.engine import LoadParams
from llamacli.errors import ModelNotLocal, OfflineRefused
from llamacli.services import auto_choice, loading, models
from llamacli.services import run as run_service
from llamacli.services.loading import Feedback, Policy
from tests.support.hubserver import HubServer

SMALL = "llama3.2:1b-q2_k"  # served by the loopback Hub: SmolLM2 requantized to Q2_K
PARAMS = LoadParams(n_ctx=256, n_threads=2)


@dataclass
class Watcher:
    """What the person would have seen: notices, and each pull's progress (a download.Progress)."""

    notices: list[str] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    total: int = 0
    fetched: int = 0

    def feedback(self) -> Feedback:
        return Feedback(notify=self.notices.append, pulling=self._pulling)

    @contextlib.contextmanager
    def _pulling(self, name: str) -> Iterator[Watcher]:
        self.pulls.append(name)
        yield self

    def file(self, name: str, sha256: str) -> None:
        """Not shown."""

    def start(self, total: int, done: int) -> None:
        self.total = total

    def advance(self, n: int) -> None:
        self.fetched += n

    def retry(self, reason: str) -> None:
        """Not expected here."""


def blob_of(home: Path) -> Path:
    [blob] = (home / "models" / "blobs").iterdir()
    return blob


@pytest.mark.slow
@pytest.mark.parametrize("configured", [False, True], ids=["named", "configured"])
def test_a_missing_model_is_pulled_first_with_a_notice(hub: HubServer, isolated: Path, configured: bool) -> None:
    watcher = Watcher()
    env = {**os.environ, "LLAMACLI_MODEL": SMALL} if configured else os.environ
    choice = loading.choose(None if configured else SMALL, PARAMS, Policy(), watcher.feedback(), env)
    assert watcher.notices[0] == f"{SMALL} is not downloaded yet: pulling it first"
    assert watcher.pulls == [SMALL]
    assert choice.local.name == SMALL and choice.local.path == blob_of(isolated)
    assert watcher.fetched == watcher.total == choice.local.path.stat().st_size == hub.body_bytes()
    assert choice.fit is not None


@pytest.mark.slow
@pytest.mark.parametrize("how", ["policy", "env"])
def test_offline_refuses_a_missing_model_before_any_request(hub: HubServer, isolated: Path, how: str) -> None:
    watcher = Watcher()
    policy, env = (Policy(offline=True), os.environ) if how == "policy" else (Policy(), offline_env())
    with pytest.raises(ModelNotLocal) as caught:
        loading.choose(SMALL, PARAMS, policy, watcher.feedback(), env)
    assert caught.value.changed is None and caught.value.name == SMALL
    assert hub.requests() == [] and watcher.notices == [] and watcher.pulls == []
    assert "HF_HUB_OFFLINE" not in os.environ  # policy travels as arguments, never through the process


@pytest.mark.slow
def test_a_policy_without_pulls_refuses_too(hub: HubServer) -> None:
    with pytest.raises(ModelNotLocal):
        loading.choose(SMALL, PARAMS, Policy(pull_if_missing=False))
    assert hub.requests() == []


@pytest.mark.slow
def test_a_model_changed_on_disk_is_pulled_again(hub: HubServer, isolated: Path, quantized: dict[str, Path]) -> None:
    models.pull(SMALL)
    blob = blob_of(isolated)
    os.truncate(blob, blob.stat().st_size // 2)
    with pytest.raises(ModelNotLocal) as caught:  # offline: refused, saying what happened
        loading.choose(SMALL, PARAMS, Policy(offline=True))
    assert caught.value.changed == blob
    watcher = Watcher()
    choice = loading.choose(SMALL, PARAMS, Policy(), watcher.feedback())
    assert watcher.notices[0] == f"{SMALL} changed on disk since it was verified: pulling it first"
    assert choice.local.path.read_bytes() == quantized["Q2_K"].read_bytes()


@pytest.mark.slow
def test_offline_pull_is_refused_before_the_hub_unless_the_model_is_here(hub: HubServer) -> None:
    with pytest.raises(OfflineRefused):
        models.pull(SMALL, env=offline_env())
    assert hub.requests() == []
    models.pull(SMALL)
    hub.reset()
    assert models.pull(SMALL, env=offline_env()).present
    assert hub.requests() == []


def test_a_model_that_will_not_fit_gets_a_warning_not_a_refusal() -> None:
    watcher = Watcher()
    env = {**os.environ, "LLAMACLI_MEMORY": "1M"}
    choice = loading.choose("smollm2:135m", PARAMS, Policy(), watcher.feedback(), env)
    assert choice.fit is not None and not choice.fit.fits and choice.fit.n_ctx == PARAMS.n_ctx
    [line] = watcher.notices
    assert line.startswith("warning: smollm2:135m does not fit: needs ") and "256-token context" in line


def test_the_picker_with_one_model_says_nothing_and_keeps_it_for_scripts() -> None:
    watcher = Watcher()
    assert auto_choice.wants_auto(None) and not auto_choice.wants_auto("smollm2:135m")
    choice = loading.choose(None, PARAMS, Policy(keep_choice=True), watcher.feedback())
    assert choice.local.name == "smollm2:135m" and watcher.notices == []
    kept = auto_choice.recall()
    assert kept is not None and kept.model == "smollm2:135m"
    loading.choose(None, PARAMS, Policy(), watcher.feedback())  # a terminal: nothing more is written
    assert auto_choice.recall() == kept


@pytest.mark.slow
def test_load_and_the_chat_loader_give_the_real_model(hub: HubServer) -> None:
    choice = loading.choose("smollm2:135m", PARAMS)
    with loading.load(choice) as model:
        assert model.n_ctx == PARAMS.n_ctx
    watcher = Watcher()
    local, model = loading.loader(PARAMS, Policy(), watcher.feedback())(SMALL)  # `/model` of a missing model
    with model:
        assert local.name == SMALL and model.n_ctx == PARAMS.n_ctx
    assert watcher.notices[0] == f"{SMALL} is not downloaded yet: pulling it first"


def test_a_model_that_fits_only_at_a_smaller_context_is_loaded_at_that_context() -> None:
    from llamacli.sizing import fit

    local = run_service.resolve("smollm2:135m")
    budgets = [f"{mib}M" for mib in range(100, 1000, 5)]
    verdicts = {
        b: fit.check_local(local.path, local.variant, None, {**os.environ, "LLAMACLI_MEMORY": b}) for b in budgets
    }
    shrunk = [b for b, v in verdicts.items() if v is not None and v.fits and v.shrunk]
    assert shrunk, "some budget fits the bundled model only below its default context"
    watcher = Watcher()
    env = {**os.environ, "LLAMACLI_MEMORY": shrunk[0]}
    choice = loading.choose("smollm2:135m", dataclasses.replace(PARAMS, n_ctx=None), Policy(), watcher.feedback(), env)
    assert choice.fit is not None and choice.params.n_ctx == choice.fit.n_ctx < choice.fit.default_ctx
    [line] = watcher.notices
    assert f"loading it at {choice.params.n_ctx} tokens" in line
    asked = loading.choose("smollm2:135m", dataclasses.replace(PARAMS, n_ctx=4096), Policy(), Watcher().feedback(), env)
    assert asked.params.n_ctx == 4096  # a context the person asked for is never changed

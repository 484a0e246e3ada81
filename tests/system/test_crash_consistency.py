"""kill -9 at random moments: the model store and the chat history are never left half-written.

Each loop draws its kill delays from a seeded random.Random (CRASH_SEED=N reproduces a run's choices; the
seed, the iteration and the delay are in every failure message). Delays span the command's whole life,
measured on this machine first: start-up, metadata, transfer, verification and commit for `pull`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli.test_chat import GREEDY, Chat
from tests.support.cli import LLAMACLI, run_cli
from tests.support.hubserver import HubServer
from tests.support.store_check import assert_consistent, file_sha256, store_files

pytestmark = pytest.mark.slow

MODEL = "llama3.2:1b"


class Draws(random.Random):
    """A seeded random.Random that remembers its seed (for failure messages)."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.initial_seed = seed


@pytest.fixture
def rng() -> Draws:
    """Kill delays: a fresh seed each run (more instants covered over time), or CRASH_SEED to replay one."""
    return Draws(int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 32)))


@contextmanager
def trial(rng: Draws, iteration: int, delay: float) -> Iterator[None]:
    """Name the seed, iteration and delay in any assertion that fails inside."""
    try:
        yield
    except AssertionError as e:
        where = f"CRASH_SEED={rng.initial_seed}, iteration {iteration}, killed after {delay:.3f} s"
        raise AssertionError(f"{where}: {e}") from e


def timed(*args: str) -> float:
    """Run `llamacli ARGS` to completion (it must succeed); its wall time."""
    start = time.monotonic()
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    return time.monotonic() - start


def kill_after(delay: float, *args: str) -> None:
    """Start `llamacli ARGS`, SIGKILL it after DELAY seconds (unless it ended), and reap it."""
    proc = subprocess.Popen([LLAMACLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


def test_pull_killed_at_random_moments_never_lists_a_bad_model(
    hub: HubServer, isolated: Path, quantized: dict[str, Path], rng: Draws
) -> None:
    expected = {MODEL: file_sha256(quantized["Q4_K_M"])}
    hub.faults.delay = 0.0005  # ~1 s of transfer: about half of the command's life
    whole = timed("pull", MODEL)  # a full pull's wall time on this machine, start-up to exit
    listed: list[dict[str, object]] = [{}]  # the timing pull completed
    for i in range(15):
        if listed and rng.random() < 0.75:  # mostly start over once complete, so transfers keep being cut
            shutil.rmtree(isolated / "models", ignore_errors=True)
        delay = rng.uniform(0, whole * 1.2)
        kill_after(delay, "pull", MODEL)
        with trial(rng, i, delay):
            listed = assert_consistent(isolated, expected)
        print(f"{i}: killed after {delay:.2f} of {whole:.2f} s: {len(listed)} listed, {store_files(isolated)}")
    hub.faults.delay = 0
    final = run_cli("pull", MODEL, "--json")
    assert final.returncode == 0, final.stderr
    data = json.loads(final.stdout)
    assert data["sha256"] == expected[MODEL] == file_sha256(Path(data["path"]))
    assert [e["name"] for e in assert_consistent(isolated, expected)] == [MODEL]
    assert [f for f in store_files(isolated) if f.startswith("partial/")] == []


def restore(template: Path, home: Path) -> None:
    """Put a copy of the store TEMPLATE in HOME (hard links: rm unlinks names, never rewrites files)."""
    shutil.rmtree(home / "models", ignore_errors=True)
    shutil.copytree(template, home / "models", copy_function=os.link)


def test_rm_killed_at_random_moments_leaves_the_model_whole_or_gone(
    hub: HubServer, isolated: Path, quantized: dict[str, Path], tmp_path: Path, rng: Draws
) -> None:
    expected = {MODEL: file_sha256(quantized["Q4_K_M"])}
    timed("pull", MODEL)
    template = tmp_path / "template"
    shutil.copytree(isolated / "models", template, copy_function=os.link)
    whole = timed("rm", MODEL)
    offline = {"HF_HUB_OFFLINE": "1"}
    for i in range(12):
        restore(template, isolated)
        delay = rng.uniform(0, whole * 1.2)
        kill_after(delay, "rm", MODEL)
        with trial(rng, i, delay):
            names = [e["name"] for e in assert_consistent(isolated, expected)]
            print(f"{i}: killed after {delay:.2f} of {whole:.2f} s: {names}, {store_files(isolated)}")
            if names:  # still whole: listed, and its header loads
                shown = run_cli("show", MODEL, "--json", env=offline)
                assert shown.returncode == 0, shown.stderr
            again = run_cli("rm", MODEL, env=offline)
            assert b"Traceback" not in again.stderr
            if names:
                assert again.returncode == 0 and b"deleted" in again.stderr, again.stderr
            else:  # cleanly gone: rm says so, and what the killed rm left is swept
                assert again.returncode in (0, 1), again.stderr
                assert again.returncode == 0 or b"is not on this machine" in again.stderr, again.stderr
            assert store_files(isolated) == [], "rm left files behind"


def test_what_a_kill_between_two_steps_leaves_is_never_listed_and_is_swept(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    """The instants a random kill rarely hits, made on purpose: each half-done state, then the next command."""
    expected = {MODEL: file_sha256(quantized["Q4_K_M"])}
    models = isolated / "models"
    timed("pull", MODEL)
    [blob] = (models / "blobs").glob("*.gguf")
    [manifest] = (models / "manifests").glob("*.json")
    saved = manifest.read_bytes()

    blob.unlink()  # rm killed after deleting the file, before the manifest
    assert assert_consistent(isolated, expected) == []
    again = run_cli("rm", MODEL)
    assert again.returncode == 1 and b"is not on this machine" in again.stderr, again.stderr
    assert store_files(isolated) == []

    hub.reset()  # pull killed after moving its file into place, before recording it
    timed("pull", MODEL)
    manifest.unlink()
    (models / "manifests" / f"{manifest.name}.999999999.tmp").write_text('{"half": ')  # and a dead writer's tmp
    (models / "partial" / f"sha256-{expected[MODEL]}.json").write_bytes(saved)  # and its stale record
    assert assert_consistent(isolated, expected) == []
    hub.reset()
    adopted = run_cli("pull", MODEL, "--json")  # the next pull adopts the file: no body downloaded
    assert adopted.returncode == 0 and json.loads(adopted.stdout)["downloaded"] == 0, adopted.stderr
    assert hub.body_bytes() == 0
    assert [e["name"] for e in assert_consistent(isolated, expected)] == [MODEL]
    manifest.unlink()
    assert run_cli("rm", MODEL).returncode == 1  # ...or the next rm deletes everything
    assert store_files(isolated) == []


def history_of(conversation: int) -> list[dict[str, object]]:
    """The messages of one conversation, through `llamacli history show --json`."""
    shown = run_cli("history", "show", str(conversation), "--json")
    assert shown.returncode == 0 and b"Traceback" not in shown.stderr, shown.stderr
    return json.loads(shown.stdout)["messages"]  # type: ignore[no-any-return]


def assert_history_consistent(sent: list[str]) -> list[dict[str, object]]:
    """The database is sound, every conversation reads back, and conversation 1 holds what was sent, in order."""
    db = Path(os.environ["LLAMACLI_HOME"]) / "history.db"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    listing = run_cli("history", "--json")
    assert listing.returncode == 0 and b"Traceback" not in listing.stderr, listing.stderr
    conversations = json.loads(listing.stdout)
    assert [c["id"] for c in conversations] == [1], conversations  # resumed each time, never forked
    messages = history_of(1)
    roles = "".join("u" if m["role"] == "user" else "a" for m in messages)
    assert roles.startswith("u") and "aa" not in roles, roles  # each answer follows its question
    users = [m["content"] for m in messages if m["role"] == "user"]
    remaining = iter(sent)
    assert all(u in remaining for u in users), (users, sent)  # each saved whole, in the order sent
    for m in messages:
        if m["role"] == "assistant" and not m["interrupted"]:
            assert m.get("stats"), m  # a finished answer is saved with its stats
    return messages


def test_chat_killed_mid_answer_keeps_a_consistent_history_and_resumes(rng: Draws) -> None:
    sent = ["Hi! Answer in one word."]
    first = Chat(*GREEDY, "-n", "8")
    first.ask(sent[0])
    assert first.bye() == 0
    answer_time = timed("run", *GREEDY, "-n", "32", "Tell me one fact about the number 1.")  # load + answer
    for i in range(4):
        chat = Chat("--continue", *GREEDY, "-n", "32")
        assert "continuing conversation 1" in chat.log.getvalue().decode("utf-8", "replace")
        sent.append(f"Tell me one fact about the number {i + 2}.")
        chat.send(sent[-1])
        delay = rng.uniform(0, answer_time * 1.2)
        time.sleep(delay)
        chat.child.kill(signal.SIGKILL)
        chat.child.close()
        with trial(rng, i, delay):
            messages = assert_history_consistent(sent)
        print(f"{i}: killed after {delay:.2f} of {answer_time:.2f} s: {[m['content'][:20] for m in messages[-2:]]}")
    last = Chat("--continue", *GREEDY, "-n", "8")
    sent.append("Thanks, bye.")
    last.ask(sent[-1])
    assert last.bye() == 0
    messages = assert_history_consistent(sent)
    assert messages[-2]["content"] == sent[-1] and messages[-1]["interrupted"] is False


def test_chat_continuing_a_saved_name_killed_at_random_keeps_it_whole_with_each_answers_model(
    rng: Draws, smollm2_path: Path
) -> None:
    """Issue 12 items 1-3 under kill -9: `chat --continue rome`, `/save rome`, a `/model` switch and a
    message, killed at a random instant of them. `rome` stays conversation 1, what was stored before stays
    as it was (model included), and an answer is recorded with the model that was writing it."""
    fast = [*GREEDY, "-n", "32", "-t", "1"]
    sent = ["Hi! Answer in one word."]
    first = run_cli("chat", *fast, input=f"{sent[0]}\n/save rome\n")
    assert first.returncode == 0, first.stderr
    answer_time = timed("run", *fast, "Tell me one fact about the number 1.")  # load + answer
    before = history_of(1)
    for i in range(4):
        model = ("smollm2:135m", str(smollm2_path))[i % 2]
        chat = Chat("--continue", "rome", *fast)
        sent.append(f"Tell me one fact about the number {i + 2}.")
        for line in ("/save rome", f"/model {model}", sent[-1]):  # typed ahead: the kill may land in any
            chat.send(line)
        delay = rng.uniform(0, answer_time * 1.2)
        time.sleep(delay)
        chat.child.kill(signal.SIGKILL)
        chat.child.close()
        with trial(rng, i, delay):
            messages = assert_history_consistent(sent)
            assert (
                run_cli("history", "show", "rome", "--json").stdout == run_cli("history", "show", "1", "--json").stdout
            )
            assert messages[: len(before)] == before  # nothing stored before changed, nor its model
            new = messages[len(before) :]
            assert all(m["model"] == model for m in new if m["role"] == "assistant"), new
            assert all(m["model"] is None for m in new if m["role"] == "user"), new
        print(f"{i}: killed after {delay:.2f} of {answer_time:.2f} s: {[str(m['content'])[:20] for m in new]}")
        before = messages
    last = run_cli("chat", "--continue", "rome", *fast, input="/save rome\nThanks, bye.\n")
    assert last.returncode == 0 and b"already saved as 'rome'" in last.stderr, last.stderr
    sent.append("Thanks, bye.")
    messages = assert_history_consistent(sent)
    assert messages[: len(before)] == before and messages[-2]["content"] == sent[-1]

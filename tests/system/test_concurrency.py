"""Several llamacli processes on one store at once: no deadlock, no traceback, a consistent store after.

Pulls of one blob serialize on its lock (one downloads, the others wait and find it done); `rm` takes the
same lock to delete, and refuses a partial download another process is writing; `list` reads manifests,
which are replaced atomically; `run` of the bundled model never touches the store. Chats writing to one
history at once, continuing and naming the same conversations, lose no message and take no name.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.hubserver import HubServer
from tests.support.store_check import assert_consistent, file_sha256

pytestmark = pytest.mark.slow

A, B = "llama3.2:1b", "llama3.2:1b-q2_k"
DEADLINE = 180  # seconds for everything: far more than it needs, so only a deadlock reaches it
RM_CLEAN = (b"deleted ", b"is being downloaded by another llamacli process", b"is not on this machine")


@dataclass
class Job:
    """One running command and what it printed."""

    args: tuple[str, ...]
    proc: subprocess.Popen[bytes]
    out: bytes = b""
    err: bytes = b""

    def finish(self, deadline: float) -> None:
        """Wait for it (a timeout here means a deadlock), collecting its output."""
        try:
            self.out, self.err = self.proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(f"llamacli {' '.join(self.args)} did not finish: deadlock?") from None


def start(*args: str, stdin: Path | None = None) -> Job:
    """Start `llamacli ARGS` with its output captured (and STDIN's text as its input)."""
    with open(stdin or os.devnull, "rb") as source:
        proc = subprocess.Popen([LLAMACLI, *args], stdin=source, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Job(args, proc)


def test_pulls_list_rm_and_run_at_once_leave_a_consistent_store(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    seed = int(os.environ.get("CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    expected = {A: file_sha256(quantized["Q4_K_M"]), B: file_sha256(quantized["Q2_K"])}
    hub.faults.delay = 0.0005  # transfers last about a second: long enough to overlap everything else
    deadline = time.monotonic() + DEADLINE
    jobs = [start("pull", A), start("pull", B), start("pull", A), start("pull", B), start("pull", A)]
    jobs.append(start("run", "smollm2:135m", "Say hi", "-n", "8", "--temperature", "0"))
    removals = sorted(rng.uniform(0, 3) for _ in range(3))  # rm of B while it is pulled, and after
    where = f"CRASH_SEED={seed}, rm at {[round(t, 2) for t in removals]} s"
    began, lists = time.monotonic(), 0
    while any(j.proc.poll() is None for j in jobs) or removals:
        if removals and time.monotonic() - began >= removals[0]:
            removals.pop(0)
            jobs.append(start("rm", B))
        listing = run_cli("list", "--json")
        assert listing.returncode == 0 and b"Traceback" not in listing.stderr, listing.stderr
        assert {e["name"] for e in json.loads(listing.stdout)} <= {A, B, "smollm2:135m"}
        lists += 1
        assert time.monotonic() < deadline, "still running: deadlock?"
    for job in jobs:
        job.finish(deadline)
    for job in jobs:
        command = " ".join(job.args)
        assert b"Traceback" not in job.err, f"{where}: llamacli {command}: {job.err.decode()}"
        if job.args[0] == "rm":
            assert job.proc.returncode in (0, 1), f"{where}: {command}: {job.err.decode()}"
            assert any(m in job.err for m in RM_CLEAN), f"{where}: {command}: {job.err.decode()}"
        else:
            assert job.proc.returncode == 0, f"{where}: llamacli {command}: {job.err.decode()}"
    assert lists > 1
    assert [j.out.strip() != b"" for j in jobs if j.args[0] == "run"] == [True]
    assert {e["name"] for e in assert_consistent(isolated, expected)} >= {A}  # nothing removes A
    hub.faults.delay = 0
    for name in (A, B):
        pulled = run_cli("pull", name, "--json")
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["sha256"] == expected[name]
    assert sorted(e["name"] for e in assert_consistent(isolated, expected)) == [A, B]
    answer = run_cli("run", A, "Say hi", "-n", "8", "--temperature", "0", "--offline")
    assert answer.returncode == 0 and answer.stdout.strip(), answer.stderr


def test_rm_and_pull_of_the_same_model_racing_in_rounds(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    """Each round: a pull and an rm of the same model start together; both end cleanly, the store stays sound."""
    expected = {B: file_sha256(quantized["Q2_K"])}
    assert run_cli("pull", B).returncode == 0
    for i in range(4):
        jobs = [start("rm", B), start("pull", B), start("rm", B)]
        deadline = time.monotonic() + DEADLINE
        for job in jobs:
            job.finish(deadline)
        for job in jobs:
            assert b"Traceback" not in job.err, f"round {i}: {job.args}: {job.err.decode()}"
        assert jobs[1].proc.returncode == 0, f"round {i}: {jobs[1].err.decode()}"
        for job in (jobs[0], jobs[2]):
            assert any(m in job.err for m in RM_CLEAN), f"round {i}: {job.err.decode()}"
        assert_consistent(isolated, expected)


def test_chats_continuing_and_naming_the_same_conversations_at_once_lose_nothing(tmp_path: Path) -> None:
    """Issue 12 items 1-2 with several processes: two chats continue `rome` and save it under its own name,
    two new chats race for `paris`, one more asks for `rome`, while `history` reads. Every message is
    stored once, `rome` stays conversation 1, exactly one chat gets `paris`, the others are told."""
    fast = ["--temperature", "0", "--seed", "1", "-n", "4", "-t", "1"]
    assert run_cli("chat", *fast, input="About Rome.\n/save rome\n").returncode == 0

    def chat(name: str, lines: str, *args: str) -> Job:
        (tmp_path / name).write_text(lines)
        return start("chat", *args, *fast, stdin=tmp_path / name)

    deadline = time.monotonic() + DEADLINE
    jobs = {
        "continue1": chat("continue1", "/save rome\nContinue one.\n", "--continue", "rome"),
        "continue2": chat("continue2", "/save rome\nContinue two.\n", "--continue", "rome"),
        "paris1": chat("paris1", "Paris one.\n/save paris\n"),
        "paris2": chat("paris2", "Paris two.\n/save paris\n"),
        "other": chat("other", "Other.\n/save rome\n"),
    }
    while any(j.proc.poll() is None for j in jobs.values()):
        listing = run_cli("history", "--json")
        assert listing.returncode == 0 and b"Traceback" not in listing.stderr, listing.stderr
        assert time.monotonic() < deadline, "still running: deadlock?"
    for name, job in jobs.items():
        job.finish(deadline)
        assert job.proc.returncode == 0 and b"Traceback" not in job.err, f"{name}: {job.err.decode()}"
    for name in ("continue1", "continue2"):
        assert b"already saved as 'rome'" in jobs[name].err, jobs[name].err
    assert b"'rome' already names conversation 1" in jobs["other"].err
    refused = [name for name in ("paris1", "paris2") if b"'paris' already names conversation" in jobs[name].err]
    assert len(refused) == 1, [jobs[n].err for n in ("paris1", "paris2")]

    conversations = {c["id"]: c for c in json.loads(run_cli("history", "--json").stdout)}
    messages = {
        cid: json.loads(run_cli("history", "show", str(cid), "--json").stdout)["messages"] for cid in conversations
    }
    users = sorted(m["content"] for ms in messages.values() for m in ms if m["role"] == "user")
    sent = ["About Rome.", "Continue one.", "Continue two.", "Other.", "Paris one.", "Paris two."]
    assert users == sent  # each once: nothing lost, nothing written twice
    assert sum(len(ms) for ms in messages.values()) == 2 * len(sent)  # and each has its answer
    assert conversations[1]["name"] == "rome" and messages[1][0]["content"] == "About Rome."
    rome = {m["content"] for m in messages[1] if m["role"] == "user"}
    assert rome == {"About Rome.", "Continue one.", "Continue two."}
    [winner] = [c["first_message"] for c in conversations.values() if c["name"] == "paris"]
    assert winner == {"paris1": "Paris two.", "paris2": "Paris one."}[refused[0]]  # the chat that was not refused

"""A disk that fills up during a pull: one clear line, exit 1, nothing listed, nothing half-written.

A full disk is simulated with RLIMIT_FSIZE in the child (`ulimit -f`): with SIGXFSZ ignored, a write past
the limit fails with EFBIG, as a write to a full disk fails with ENOSPC; both reach the same code path.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.hubserver import HubServer
from tests.support.store_check import assert_consistent, file_sha256, snapshot, store_files

pytestmark = pytest.mark.slow

MODEL = "llama3.2:1b"


def file_size_limit(limit: int) -> Callable[[], None]:
    """A preexec_fn: files may not grow past LIMIT bytes, and writing past it fails with EFBIG."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def limited(limit: int, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `llamacli ARGS` with files limited to LIMIT bytes."""
    return subprocess.run(
        [LLAMACLI, *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        preexec_fn=file_size_limit(limit),
        timeout=180,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[bytes], *words: bytes) -> None:
    """Exit 1 (a user error: README), and one `llamacli: error:` line that says what happened and what to do."""
    assert result.returncode == 1, result.stderr
    assert b"Traceback" not in result.stderr
    [line] = [x for x in result.stderr.splitlines() if x.startswith(b"llamacli: error:")]
    assert line.endswith(b"then pull again: it resumes)") or line.endswith(b"then try again)"), line
    for word in words:
        assert word in line, line


def test_disk_full_mid_download_keeps_the_partial_unlisted_and_the_next_pull_resumes(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    expected = {MODEL: file_sha256(quantized["Q4_K_M"])}
    limit = 5_000_000
    result = limited(limit, "pull", MODEL)
    assert_one_line_error(result, b"File too large", b"ulimit -f", b".part", b"then pull again: it resumes")
    assert assert_consistent(isolated, expected) == []  # nothing listed
    [partial] = (isolated / "models" / "partial").glob("*.part")  # what was written is kept for the resume
    assert partial.stat().st_size == limit
    hub.reset()
    resumed = run_cli("pull", MODEL, "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert hub.requests("/cdn/")[0].range == f"bytes={limit}-"
    assert json.loads(resumed.stdout)["sha256"] == expected[MODEL]
    assert [e["name"] for e in assert_consistent(isolated, expected)] == [MODEL]
    assert not [f for f in store_files(isolated) if f.startswith("partial/")]


def test_disk_full_before_the_first_byte_leaves_no_half_written_record(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    expected = {MODEL: file_sha256(quantized["Q4_K_M"])}
    result = limited(64, "pull", MODEL)  # too small even for the record of the partial download
    assert_one_line_error(result, b"File too large", b".json")
    assert assert_consistent(isolated, expected) == []
    assert store_files(isolated) == []  # no truncated record, no temporary file
    later = run_cli("pull", MODEL, "--json")
    assert later.returncode == 0, later.stderr
    assert json.loads(later.stdout)["sha256"] == expected[MODEL]


def test_a_failed_manifest_write_leaves_the_store_as_it_was(
    hub_server: HubServer, hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    """The blob is there and only the manifest must be written (a second repository serving the same file)."""
    mirror = "mirror/Llama-3.2-1B-Instruct-GGUF"
    hub_server.add(mirror, {"Llama-3.2-1B-Instruct-Q4_K_M.gguf": quantized["Q4_K_M"]})
    expected = {MODEL: file_sha256(quantized["Q4_K_M"]), f"hf.co/{mirror}:Q4_K_M": file_sha256(quantized["Q4_K_M"])}
    assert run_cli("pull", MODEL).returncode == 0
    before = snapshot(isolated)
    failed = limited(64, "pull", f"hf.co/{mirror}:Q4_K_M")
    assert_one_line_error(failed, b"File too large", b"manifests", b"then try again")
    assert snapshot(isolated) == before  # no new manifest, no temporary file, the old one intact
    assert [e["name"] for e in assert_consistent(isolated, expected)] == [MODEL]
    again = limited(64, "pull", MODEL, "--json")  # a pull of a present model writes nothing: fine on a full disk
    assert again.returncode == 0 and json.loads(again.stdout)["downloaded"] == 0, again.stderr
    assert snapshot(isolated) == before
    later = run_cli("pull", f"hf.co/{mirror}:Q4_K_M", "--json")
    assert later.returncode == 0 and json.loads(later.stdout)["downloaded"] == 0, later.stderr
    assert len(assert_consistent(isolated, expected)) == 2


def test_free_space_is_checked_before_downloading(hub: HubServer, isolated: Path) -> None:
    """The pre-check: a file larger than the free space is refused before a byte is written."""
    hub.faults.size = 10**16  # the Hub announces 10 PB
    result = run_cli("pull", MODEL)
    assert result.returncode == 1 and b"Traceback" not in result.stderr
    assert b"not enough disk space" in result.stderr and b"LLAMACLI_HOME" in result.stderr
    assert hub.body_bytes() == 0
    assert store_files(isolated) == []

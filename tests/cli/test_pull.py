"""`llamacli pull` against the loopback Hub, with real huggingface_hub and real subprocesses."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import LLAMACLI, run_cli
from tests.support.hubserver import LLAMA_1B_REPO, HubServer

Q4 = "Llama-3.2-1B-Instruct-Q4_K_M.gguf"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def store_files(home: Path) -> list[Path]:
    """Every file under the model store (blobs, partials, manifests)."""
    root = home / "models"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def partials(home: Path) -> list[Path]:
    return sorted((home / "models" / "partial").glob("*.part")) if (home / "models").exists() else []


def listed(*extra: str) -> list[dict[str, object]]:
    result = run_cli("list", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return [e for e in json.loads(result.stdout) if e["source"] != "bundled"]


@pytest.mark.slow
def test_pull_registry_name_downloads_verified_file(hub: HubServer, isolated: Path, quantized: dict[str, Path]) -> None:
    result = run_cli("pull", "llama3.2:1b", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["sha256"] == sha256(quantized["Q4_K_M"])
    assert Path(data["path"]).read_bytes() == quantized["Q4_K_M"].read_bytes()
    assert data["downloaded"] == quantized["Q4_K_M"].stat().st_size
    cdn = hub.requests("/cdn/")  # the bytes came from the other origin (the "CDN"), without the token
    assert cdn and all(r.host.startswith("localhost:") for r in cdn)
    assert b"pulling llama3.2:1b" in result.stderr and b"\x1b" not in result.stderr
    assert result.stderr.count(b"\n") == 1  # one line of progress when stderr is not a terminal
    assert partials(isolated) == []


@pytest.mark.slow
def test_hub_reference_by_quant_is_case_insensitive(hub: HubServer, quantized: dict[str, Path]) -> None:
    result = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}:q8_0", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q8_0"])
    assert [e["name"] for e in listed()] == ["llama3.2:1b-q8_0"]  # the registry name of that very file


@pytest.mark.slow
def test_hub_reference_by_file(hub: HubServer, quantized: dict[str, Path]) -> None:
    result = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}/Llama-3.2-1B-Instruct-Q2_K.gguf", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q2_K"])


@pytest.mark.slow
def test_the_header_read_before_a_pull_starts_the_download(hub: HubServer, quantized: dict[str, Path]) -> None:
    """A file outside the registry is sized from its remote header first; those bytes are not fetched again."""
    result = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}/Llama-3.2-1B-Instruct-Q2_K.gguf", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q2_K"])
    assert hub.body_bytes() == quantized["Q2_K"].stat().st_size
    ranges = [r.range for r in hub.requests("/cdn/")]
    assert ranges[0] == "bytes=0-1048575" and len(ranges) >= 2
    assert b"pulling" in result.stderr and b"resuming" not in result.stderr  # a first pull, not a resumed one


@pytest.mark.slow
def test_a_server_without_range_support_is_read_only_as_far_as_needed(
    hub: HubServer, quantized: dict[str, Path]
) -> None:
    hub.faults.ignore_range = True
    result = run_cli("show", f"hf.co/{LLAMA_1B_REPO}:Q8_0", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["file_type"] == "Q8_0"
    assert hub.body_bytes() < quantized["Q8_0"].stat().st_size // 4  # it sent the whole file; we hung up
    pulled = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}:Q8_0", "--json")
    assert pulled.returncode == 0, pulled.stderr
    assert json.loads(pulled.stdout)["sha256"] == sha256(quantized["Q8_0"])


@pytest.mark.slow
def test_unknown_quant_lists_the_available_ones(hub: HubServer) -> None:
    result = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}:Q5_K_S")
    assert result.returncode == 1
    assert b"available quantizations: Q2_K, Q4_K_M, Q8_0" in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.slow
def test_unknown_file_is_a_user_error(hub: HubServer) -> None:
    result = run_cli("pull", f"hf.co/{LLAMA_1B_REPO}/Nope-Q4_K_M.gguf")
    assert result.returncode == 1
    assert b"not found on the Hub" in result.stderr


@pytest.mark.slow
def test_pulling_a_complete_model_downloads_no_body(hub: HubServer) -> None:
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    hub.reset()
    again = run_cli("pull", "llama3.2:1b", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["downloaded"] == 0
    assert hub.body_bytes() == 0


@pytest.mark.slow
def test_dropped_connection_resumes_in_the_same_process(hub: HubServer, quantized: dict[str, Path]) -> None:
    hub.faults.drop_after, hub.faults.drops = 3_000_000, 2
    result = run_cli("pull", "llama3.2:1b", "--json")
    assert result.returncode == 0, result.stderr
    size = quantized["Q4_K_M"].stat().st_size
    assert hub.body_bytes() == size  # nothing fetched twice
    ranges = [r.range for r in hub.requests("/cdn/")]
    assert ranges == [None, "bytes=3000000-", "bytes=6000000-"]
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q4_K_M"])


@pytest.mark.slow
def test_failed_pull_leaves_nothing_listed_and_the_next_pull_resumes(
    hub: HubServer, isolated: Path, quantized: dict[str, Path]
) -> None:
    hub.faults.cut_at = 2_000_000
    failed = run_cli("pull", "llama3.2:1b")
    assert failed.returncode == 4, failed.stderr
    assert b"pull again: it resumes" in failed.stderr
    [partial] = partials(isolated)
    assert partial.stat().st_size == 2_000_000
    assert listed() == []  # nothing half-written is listed...
    offline = run_cli("run", "--offline", "llama3.2:1b", "hi")
    assert offline.returncode == 1 and b"not downloaded" in offline.stderr  # ...or loaded
    have = partial.stat().st_size
    hub.reset()
    result = run_cli("pull", "llama3.2:1b", "--json")
    assert result.returncode == 0, result.stderr
    assert [r.range for r in hub.requests("/cdn/")] == [f"bytes={have}-"]
    size = quantized["Q4_K_M"].stat().st_size
    assert hub.body_bytes() == size - have
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q4_K_M"])
    assert partials(isolated) == []


@pytest.mark.slow
def test_corrupted_body_is_deleted_and_reported(hub: HubServer, isolated: Path) -> None:
    hub.faults.flip_byte = 5_000_000
    result = run_cli("pull", "llama3.2:1b")
    assert result.returncode == 4
    assert b"sha256 mismatch" in result.stderr and b"deleted" in result.stderr
    assert [p for p in store_files(isolated) if p.suffix in (".gguf", ".part")] == []
    assert listed() == []


@pytest.mark.slow
def test_kill_9_mid_pull_then_pull_again_resumes(hub: HubServer, isolated: Path, quantized: dict[str, Path]) -> None:
    hub.faults.delay = 0.01  # ~6 MB/s: the kill lands mid-transfer
    proc = subprocess.Popen([LLAMACLI, "pull", "llama3.2:1b"], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = partials(isolated)
        if found and found[0].stat().st_size > 1_000_000:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    [partial] = partials(isolated)
    have = partial.stat().st_size
    assert 0 < have < quantized["Q4_K_M"].stat().st_size
    hub.reset()
    result = run_cli("pull", "llama3.2:1b", "--json")
    assert result.returncode == 0, result.stderr
    assert hub.requests("/cdn/")[0].range == f"bytes={have}-"
    assert json.loads(result.stdout)["sha256"] == sha256(quantized["Q4_K_M"])


@pytest.mark.slow
def test_two_pulls_at_once_download_once(hub: HubServer, isolated: Path, quantized: dict[str, Path]) -> None:
    hub.faults.delay = 0.002
    procs = [
        subprocess.Popen([LLAMACLI, "pull", "llama3.2:1b", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    paths = {json.loads(out)["path"] for out, _ in outputs}
    assert len(paths) == 1
    assert sha256(Path(paths.pop())) == sha256(quantized["Q4_K_M"])
    assert hub.body_bytes() == quantized["Q4_K_M"].stat().st_size
    assert any(b"waiting for another pull" in err for _, err in outputs)


@pytest.mark.slow
def test_offline_pull_makes_no_request(hub: HubServer) -> None:
    result = run_cli("pull", "llama3.2:1b", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert b"offline mode is on" in result.stderr
    assert hub.requests() == []


@pytest.mark.slow
def test_offline_run_refuses_a_missing_model_without_network(hub: HubServer) -> None:
    result = run_cli("run", "--offline", "llama3.2:1b", "hi")
    assert result.returncode == 1
    assert b"not downloaded" in result.stderr
    assert hub.requests() == []


@pytest.mark.parametrize(
    "ref",
    [
        "hf.co/../etc:Q4_K_M",
        "hf.co/bartowski/../../etc/passwd.gguf",
        "hf.co/bartowski//x.gguf",
        "hf.co/a/b/c/d.gguf",
        "hf.co/owner/re$po:Q4_K_M",
        "hf.co/owner/repo:",
        "hf.co/owner/repo/..gguf",
        "hf.co//repo:Q8_0",
    ],
)
@pytest.mark.slow
def test_malformed_references_are_refused_before_any_request(hub: HubServer, isolated: Path, ref: str) -> None:
    result = run_cli("pull", ref)
    assert result.returncode == 1, result.stderr
    assert b"malformed model reference" in result.stderr
    assert hub.requests() == []
    assert store_files(isolated) == []


@pytest.mark.parametrize(
    ("fault", "value", "message"),
    [
        ("etag", "../../x", b"no valid sha256"),
        ("etag", "A" * 64, b"no valid sha256"),
        ("commit", "../../../main", b"invalid commit id"),
    ],
)
@pytest.mark.slow
def test_untrusted_server_answers_are_refused_before_writing(
    hub: HubServer, isolated: Path, tmp_path: Path, fault: str, value: str, message: bytes
) -> None:
    setattr(hub.faults, fault, value)
    before = sorted(tmp_path.rglob("*"))
    result = run_cli("pull", "llama3.2:1b")
    assert result.returncode == 4
    assert message in result.stderr
    assert hub.body_bytes() == 0
    assert sorted(tmp_path.rglob("*")) == before  # nothing written anywhere, inside or outside the store


@pytest.mark.slow
def test_gated_repo_asks_for_hf_token_and_never_prints_it(hub: HubServer) -> None:
    wrong = "hf_wrong_token_987654"
    result = run_cli("pull", "hf.co/meta/Gated-GGUF:Q8_0", env={"HF_TOKEN": wrong})
    assert result.returncode == 4
    assert b"HF_TOKEN" in result.stderr
    assert wrong.encode() not in result.stderr + result.stdout
    right = "hf_secret_token_123456"
    ok = run_cli("pull", "hf.co/meta/Gated-GGUF:Q8_0", "--json", env={"HF_TOKEN": right})
    assert ok.returncode == 0, ok.stderr
    assert right.encode() not in ok.stderr + ok.stdout
    assert all(r.authorized for r in hub.requests("/api/") + hub.requests("/meta/"))
    assert not any(r.authorized for r in hub.requests("/cdn/"))  # the token never leaves the Hub's origin


@pytest.mark.slow
def test_not_enough_disk_is_refused_before_downloading(hub: HubServer, isolated: Path) -> None:
    hub.faults.size = 10**16  # 10 PB
    result = run_cli("pull", "llama3.2:1b")
    assert result.returncode == 1
    assert b"not enough disk space" in result.stderr
    assert hub.body_bytes() == 0


@pytest.mark.slow
def test_a_file_that_is_not_gguf_fails_the_post_download_check(hub: HubServer, isolated: Path) -> None:
    result = run_cli("pull", "hf.co/someone/Broken-GGUF:Q4_K_M")
    assert result.returncode == 3
    assert b"not a valid GGUF" in result.stderr and b"Traceback" not in result.stderr
    assert [p for p in store_files(isolated) if p.suffix in (".gguf", ".part")] == []


def test_unreachable_hub_is_a_network_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    result = run_cli("pull", "llama3.2:1b")
    assert result.returncode == 4
    assert b"cannot download" in result.stderr and b"Traceback" not in result.stderr


@pytest.mark.slow
def test_run_pulls_a_missing_model_first(hub: HubServer) -> None:
    result = run_cli("run", "llama3.2:1b", "Say hi", "-n", "4", "--temperature", "0")
    assert result.returncode == 0, result.stderr
    assert b"not downloaded yet: pulling it first" in result.stderr
    assert result.stdout.strip()
    assert hub.body_bytes() > 0


@pytest.mark.slow
def test_progress_bar_on_a_terminal(hub: HubServer) -> None:
    import pexpect

    hub.faults.delay = 0.001
    child = pexpect.spawn(LLAMACLI, ["pull", "llama3.2:1b"], env=dict(os.environ), timeout=120)
    child.expect(r"MiB/s")  # the transfer speed column (binary units); size and ETA share the line
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    text = child.before.decode(errors="replace") if child.before else ""
    assert "pulled" in text


@pytest.mark.slow
def test_ctrl_c_mid_pull_keeps_the_partial_file_for_the_next_pull(hub: HubServer, isolated: Path) -> None:
    hub.faults.delay = 0.01
    proc = subprocess.Popen([LLAMACLI, "pull", "llama3.2:1b"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (partials(isolated) and partials(isolated)[0].stat().st_size > 500_000):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert b"downloaded are kept; 'llamacli pull llama3.2:1b' resumes from there" in err
    [partial] = partials(isolated)
    hub.reset()
    have = partial.stat().st_size
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    assert hub.requests("/cdn/")[0].range == f"bytes={have}-"


@pytest.mark.slow
def test_offline_pull_of_a_present_model_succeeds_without_network(hub: HubServer) -> None:
    assert run_cli("pull", "llama3.2:1b").returncode == 0
    hub.reset()
    result = run_cli("pull", "llama3.2:1b", "--json", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["already_present"] is True
    assert hub.requests() == []


@pytest.mark.slow
def test_pull_of_the_bundled_model_is_already_there(hub: HubServer) -> None:
    result = run_cli("pull", "smollm2:135m", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["already_present"] is True
    assert hub.requests() == []


@pytest.mark.slow
def test_pull_of_a_path_points_to_import(hub: HubServer) -> None:
    result = run_cli("pull", "./model.gguf")
    assert result.returncode == 1 and b"llamacli import" in result.stderr


@pytest.mark.slow
def test_pull_help_and_a_path_agree(hub: HubServer) -> None:
    """Issue 12, item 11: `pull --help` said MODEL may be a path, and `pull ./x.gguf` failed "is a path"."""
    arguments = run_cli("pull", "--help").stdout.decode().split("Arguments:")[1].split("Options:")[0]
    words = " ".join(arguments.split())
    assert words.startswith("MODEL Registry name or hf.co/OWNER/REPO[:QUANT|/FILE] (a file on disk needs no pull")
    result = run_cli("pull", "./model.gguf")
    assert result.stderr.decode().splitlines() == [
        "llamacli: error: './model.gguf' is a file on disk: it needs no pull (pull downloads from the Hub)"
        " (run it by its path, or give it a name with: llamacli import ./model.gguf)"
    ]
    assert hub.requests() == []


@pytest.mark.slow
def test_a_family_name_alone_or_latest_means_its_default_tag(hub: HubServer, quantized: dict[str, Path]) -> None:
    """Issue 12, item 13: `run llama3.2 "hi"` took llama3.2 for prompt text; `llama3.2:latest` was unknown."""
    hub.add("bartowski/Llama-3.2-3B-Instruct-GGUF", {"Llama-3.2-3B-Instruct-Q4_K_M.gguf": quantized["Q4_K_M"]})
    try:
        pulled = run_cli("pull", "llama3.2:latest", "--json")
        assert pulled.returncode == 0, pulled.stderr
        assert json.loads(pulled.stdout)["model"] == "llama3.2:3b"  # as in ollama
        for first in ("llama3.2", "llama3.2:latest", "LLAMA3.2"):
            result = run_cli("run", first, "Say hi.", "-n", "2", "--temperature", "0", "--json")
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["model"] == "llama3.2:3b", first
        assert [e["name"] for e in listed()] == ["llama3.2:3b"]
    finally:
        hub.repos.pop("bartowski/Llama-3.2-3B-Instruct-GGUF", None)

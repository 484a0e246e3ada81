"""`llamacli pull` against the loopback Hub, with real huggingface_hub and real subprocesses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.conftest import run_cli
from tests.hubserver import HubServer

Q4 = "Llama-3.2-1B-Instruct-Q4_K_M.gguf"


def blobs(home: Path) -> list[Path]:
    return sorted((home / "models" / "blobs").glob("*")) if (home / "models" / "blobs").exists() else []


def test_pull_registry_name_downloads_verified_file(hub: HubServer, isolated: Path, quantized: dict[str, Path]) -> None:
    result = run_cli("pull", "llama3.2:1b", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    expected = hashlib.sha256(quantized["Q4_K_M"].read_bytes()).hexdigest()
    assert data["sha256"] == expected
    assert Path(data["path"]).read_bytes() == quantized["Q4_K_M"].read_bytes()
    assert data["downloaded"] == quantized["Q4_K_M"].stat().st_size
    # the bytes came from the other origin (the "CDN"), without the token
    cdn = hub.requests("/cdn/")
    assert cdn and all(r.host.startswith("localhost:") for r in cdn)
    assert b"pulling llama3.2:1b" in result.stderr and b"\x1b" not in result.stderr

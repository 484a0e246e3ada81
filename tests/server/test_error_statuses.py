"""Domain errors as HTTP statuses (server/errors.py), worded by the CLI's one table: a chat whose model is pulled
first meets the Hub's and the disk's errors as a pull does, with the same statuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from llamacli import errors as err
from llamacli.cli import messages
from llamacli.server.errors import from_domain


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (err.DoesNotFit("llama3.3:70b", "needs 44 GiB, this machine has 16"), 400, "model_too_large"),
        (err.NotEnoughDisk(Path("/m"), 10, 1), 507, "insufficient_storage"),
        (err.AuthRequired("meta-llama/x", 401), 403, "hub_refused"),
        (err.IntegrityError("o/r", "f.gguf", "a" * 64, "b" * 64), 502, "download_failed"),
        (err.DownloadError("o/r", "f.gguf", "connection reset"), 502, "download_failed"),
        (err.ModelNotFound("nope:1b", ()), 404, "model_not_found"),
        (err.ServerBusy(4), 503, "server_busy"),
    ],
)
def test_each_error_has_its_status_and_one_line(error: err.LlamacliError, status: int, code: str) -> None:
    refused = from_domain(error, lambda e: messages.describe(e).line())  # as serve_cmd hands it down
    assert (refused.status, refused.code) == (status, code)
    assert refused.message and "\n" not in refused.message
    assert (refused.kind == "server_error") == (status >= 500)

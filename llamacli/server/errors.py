"""Every refusal as one OpenAI-shaped error object (`{"error": {"message", "type", "param", "code"}}`).

OpenAI's clients raise by status and read `error.message`; ollama's read `error` as a string, so the
ollama routes answer `{"error": message}` with the same status. The words of a domain error come from
the CLI's table (`ServerConfig.words`): the server never words a model or store problem twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.responses import JSONResponse

from llamacli import errors as err
from llamacli.errors import LlamacliError

# Domain errors by HTTP status: what the request named is missing (404), the request cannot be served as
# asked (400), the Hub refused a model's download (403) or failed it (502), the disk is full (507), the server
# cannot take it now (503); everything else is the server's fault (500). A request for a model not downloaded
# yet pulls it first, so a chat can meet the Hub's errors as a pull does.
_STATUS: list[tuple[type[LlamacliError], int, str]] = [
    (err.ModelNotFound, 404, "model_not_found"),
    (err.ModelNotLocal, 404, "model_not_found"),
    (err.ModelNotPulled, 404, "model_not_found"),
    (err.RemoteNotFound, 404, "model_not_found"),
    (err.NoSuchModelFile, 404, "model_not_found"),
    (err.MalformedReference, 400, "invalid_model"),
    (err.ContextOverflow, 400, "context_length_exceeded"),
    (err.TemplateError, 400, "invalid_messages"),
    (err.InvalidValue, 400, "invalid_value"),
    (err.ServerBusy, 503, "server_busy"),
    (err.ModelInUse, 409, "model_in_use"),
    (err.OfflineRefused, 404, "model_not_found"),
    (err.GuardBlocked, 400, "content_blocked"),
    (err.DoesNotFit, 400, "model_too_large"),
    (err.PullOfFile, 400, "invalid_model"),
    (err.NotEnoughDisk, 507, "insufficient_storage"),
    (err.AuthRequired, 403, "hub_refused"),  # gated, private or missing (HF_TOKEN)
    (err.DownloadError, 502, "download_failed"),  # the Hub or the transfer failed (IntegrityError too)
]


class ApiError(Exception):
    """A request refused with STATUS and a one-line MESSAGE (and the PARAM it is about, if one)."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.param, self.code = status, message, kind, param, code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The OpenAI error object."""
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}

    def response(self, ollama: bool = False) -> JSONResponse:
        """This error as a response: OpenAI's shape, or ollama's `{"error": "..."}`."""
        content = {"error": self.message} if ollama else self.body()
        return JSONResponse(content, self.status, headers=self.headers)


def from_domain(error: LlamacliError, words: Callable[[LlamacliError], str]) -> ApiError:
    """ERROR as an ApiError: its status by kind, its message from the CLI's words."""
    for kind, status, code in _STATUS:
        if isinstance(error, kind):
            headers = {"Retry-After": "1"} if status == 503 else None
            kind_name = "invalid_request_error" if status < 500 else "server_error"
            return ApiError(status, words(error), kind_name, "model" if status == 404 else None, code, headers)
    return ApiError(500, words(error), "server_error", None, "internal_error")

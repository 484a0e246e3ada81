"""Fitting models in memory, and `llamacli serve`."""

from __future__ import annotations

from llamacli.errors.base import LlamacliError


class NoModelFits(LlamacliError):
    """`auto` found no downloaded model that fits this machine's memory and speed budget.

    EXPLANATION says why; BETTER names the best fit to download, when there is one.
    """

    def __init__(self, explanation: str, better: str | None) -> None:
        super().__init__(explanation, better)
        self.explanation = explanation
        self.better = better


class DoesNotFit(LlamacliError):
    """The model needs more memory than this machine has to give (checked before downloading).

    REMOTES: the configured remote engines (`[remotes.NAME]`) it could run on instead.
    """

    def __init__(self, model: str, reason: str, remotes: tuple[str, ...] = ()) -> None:
        super().__init__(model, reason, remotes)
        self.model = model
        self.reason = reason
        self.remotes = remotes


class ServerBusy(LlamacliError):
    """The server's queue is full (QUEUED requests wait already), or it is shutting down (0)."""

    def __init__(self, queued: int) -> None:
        super().__init__(queued)
        self.queued = queued


class ModelInUse(LlamacliError):
    """MODEL cannot be deleted now: REQUESTS requests are using it (a file under a running slot stays)."""

    def __init__(self, model: str, requests: int) -> None:
        super().__init__(model, requests)
        self.model = model
        self.requests = requests


class EngineFailure(LlamacliError):
    """llama.cpp failed in the middle of a batched generation, or the engine is closing (REASON)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AddressNeedsKey(LlamacliError):
    """`serve` was asked to listen beyond loopback (HOST) without an API key."""

    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host

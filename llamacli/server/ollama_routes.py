"""The ollama API (placeholder until its routes land)."""

from __future__ import annotations

from starlette.routing import Route

routes: list[Route] = []

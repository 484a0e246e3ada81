"""Offline mode: HF_HUB_OFFLINE read in one place, from the env mapping each use case is given.

huggingface_hub reads HF_HUB_OFFLINE once, at import, from the process environment; so `--offline` is
not written into os.environ. It travels as policy (`services.loading.Policy.offline`) or as an env
mapping, and the services refuse before any Hub call (`OfflineRefused`, `ModelNotLocal`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE = ("1", "true", "yes", "on")  # what huggingface_hub's own `_is_true` accepts


def is_offline(env: Mapping[str, str] = os.environ) -> bool:
    """Whether ENV asks for offline mode (HF_HUB_OFFLINE=1, true, yes or on, in any case)."""
    return env.get(OFFLINE_ENV, "").strip().lower() in _TRUE


def offline_env(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """ENV with offline mode on: what a use case is handed when `--offline` was given."""
    return {**env, OFFLINE_ENV: "1"}

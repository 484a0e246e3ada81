"""HF_HUB_OFFLINE's truthiness, read in one function (huggingface_hub's own spellings)."""

from __future__ import annotations

import pytest

from llamacli.base.offline import OFFLINE_ENV, is_offline, offline_env


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "On", " 1 "])
def test_offline_spellings(value: str) -> None:
    assert is_offline({OFFLINE_ENV: value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2"])
def test_online_spellings(value: str) -> None:
    assert not is_offline({OFFLINE_ENV: value})


def test_unset_is_online_and_offline_env_turns_it_on_without_changing_the_original() -> None:
    env = {"HOME": "/x"}
    assert not is_offline(env)
    assert is_offline(offline_env(env)) and offline_env(env)["HOME"] == "/x"
    assert env == {"HOME": "/x"}

"""StopMatcher: stop strings found across deltas, partial matches held back, nothing lost."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llamacli.engine.stops import StopMatcher


def feed_all(matcher: StopMatcher, deltas: list[str]) -> tuple[str, bool]:
    shown = []
    for delta in deltas:
        text, hit = matcher.feed(delta)
        shown.append(text)
        if hit:
            return "".join(shown), True
    return "".join(shown) + matcher.flush(), False


def test_stop_split_across_deltas_is_cut() -> None:
    assert feed_all(StopMatcher(["</end>"]), ["hello </", "en", "d> after"]) == ("hello ", True)


def test_partial_stop_prefix_is_released_when_it_does_not_complete() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.feed("abc ST") == ("abc ", False)
    assert matcher.feed("ay") == ("STay", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed_all(StopMatcher(["bb", "a"]), ["xxbba"]) == ("xx", True)


def test_no_stops_passes_text_through() -> None:
    assert StopMatcher([]).feed("anything") == ("anything", False)


@given(st.lists(st.text(alphabet="ab<>/x", max_size=6), max_size=12), st.text(alphabet="ab<>/", min_size=1, max_size=4))
def test_matches_the_whole_text_search(deltas: list[str], stop: str) -> None:
    """Streaming result equals cutting the full text at the first occurrence of the stop string."""
    full = "".join(deltas)
    index = full.find(stop)
    expected = (full[:index], True) if index >= 0 else (full, False)
    assert feed_all(StopMatcher([stop]), deltas) == expected

"""Batched generation (engine/batch.py) on the real model: several jobs in one context give each the answer
it gets alone, share evaluated prefixes, free their slot when cancelled, and are refused with a reason."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from llamacli.engine import Finished, GenerationParams, LoadParams, TextDelta
from llamacli.engine.batch import BatchEngine, Job
from llamacli.engine.chat_template import Message
from llamacli.engine.model import Model
from llamacli.errors import ContextOverflow, EngineFailure, ServerBusy

pytestmark = pytest.mark.slow

GREEDY = GenerationParams(temperature=0, max_tokens=48)
QUESTIONS = ["Name three fruits.", "What is the capital of France?", "Count to five.", "Say hello in Spanish."]


class Collected:
    """A job's sink: its text, its end (a Finished or an error), and when its first text came."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.end: Finished | BaseException | None = None
        self.first_text_at = 0.0
        self.done = threading.Event()
        self.job: Job | None = None

    def __call__(self, event: object) -> None:
        if isinstance(event, TextDelta):
            if not self.first_text_at:
                self.first_text_at = time.monotonic()
            self.pieces.append(event.text)
        else:
            assert isinstance(event, Finished | BaseException)
            self.end = event
            self.done.set()

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    def finished(self, timeout: float = 120) -> Finished:
        assert self.done.wait(timeout), "the job never finished"
        assert isinstance(self.end, Finished), self.end
        return self.end


@pytest.fixture(scope="module")
def slots(smollm2_path: Path) -> Iterator[Model]:
    """The bundled model with four sequences of 1,024 tokens each."""
    with Model(smollm2_path, LoadParams(n_ctx=1024, sequences=4)) as loaded:
        yield loaded


@pytest.fixture
def engine(slots: Model) -> Iterator[BatchEngine]:
    running = BatchEngine(slots, queue_limit=8)
    running.start()
    yield running
    running.close()


def submit(engine: BatchEngine, model: Model, question: str, params: GenerationParams = GREEDY) -> Collected:
    sink = Collected()
    sink.job = Job(model.render([Message("user", question)]), params, sink)
    engine.submit(sink.job)
    return sink


def test_each_sequence_has_the_whole_window(slots: Model) -> None:
    assert slots.sequences == 4 and slots.n_ctx == 1024


def test_concurrent_jobs_each_get_the_answer_they_get_alone(engine: BatchEngine, slots: Model, model: Model) -> None:
    alone = []
    for question in QUESTIONS:  # one sequence, no batch, from an empty context as a fresh slot starts
        model.reset()  # (a prefix kept from an earlier test's prompt is evaluated in other batches: other numbers)
        alone.append(model.generate([Message("user", question)], GREEDY).text)
    together = [submit(engine, slots, q) for q in QUESTIONS]
    for sink in together:
        sink.finished()
    assert [sink.text for sink in together] == alone
    assert all(alone)


def test_a_prompt_sharing_a_slots_tokens_evaluates_only_the_rest(engine: BatchEngine, slots: Model) -> None:
    first = submit(engine, slots, "Tell me a fact about the Moon.").finished()
    again = submit(engine, slots, "Tell me a fact about the Moon.").finished()
    assert first.stats.prompt_tokens == again.stats.prompt_tokens
    assert again.stats.cached_prompt_tokens == again.stats.prompt_tokens - 1  # the last token is decoded again


def test_a_cancelled_job_frees_its_slot_for_a_waiting_one_at_once(engine: BatchEngine, slots: Model) -> None:
    endless = GenerationParams(temperature=0, max_tokens=600, ignore_eos=True)
    running = [submit(engine, slots, q, endless) for q in QUESTIONS]
    waiting = submit(engine, slots, "Hi!", GenerationParams(temperature=0, max_tokens=4))
    deadline = time.monotonic() + 60
    while not all(s.pieces for s in running) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert engine.load().active == 4 and engine.load().queued == 1 and not waiting.pieces
    cancelled_at = time.monotonic()
    assert running[1].job is not None
    running[1].job.cancel()  # as a client that went away
    waiting.finished()
    assert waiting.first_text_at - cancelled_at < 5
    assert [s.done.is_set() for s in running] == [False] * 4  # the others still generate
    assert running[1].end is None  # a cancelled job's sink hears nothing more
    while engine.load().active != 3 and time.monotonic() < deadline:  # the finished job's slot is freed after it hears
        time.sleep(0.01)
    assert engine.load().active == 3


def test_a_stop_string_ends_the_answer_before_it(engine: BatchEngine, slots: Model, model: Model) -> None:
    alone = model.generate([Message("user", "Count to five.")], GREEDY).text
    stop = alone.split()[1]
    sink = submit(engine, slots, "Count to five.", GenerationParams(temperature=0, max_tokens=48, stop=(stop,)))
    assert sink.finished().reason == "stop"
    assert stop not in sink.text and alone.startswith(sink.text)


def test_max_tokens_ends_with_length(engine: BatchEngine, slots: Model) -> None:
    params = GenerationParams(temperature=0, max_tokens=3, ignore_eos=True)
    finished = submit(engine, slots, "Write a long story.", params).finished()
    assert finished.reason == "length" and finished.stats.generated_tokens == 3


def test_a_prompt_longer_than_a_slot_is_refused_at_once(engine: BatchEngine, slots: Model) -> None:
    with pytest.raises(ContextOverflow):
        engine.submit(Job(list(range(100, 1124)), GREEDY, Collected()))


def test_past_the_queue_bound_is_busy_and_closing_tells_the_waiting(slots: Model) -> None:
    stopped = BatchEngine(slots, queue_limit=2)  # never started: jobs stay queued
    first, second = Collected(), Collected()
    stopped.submit(Job([1, 2, 3], GREEDY, first))
    stopped.submit(Job([1, 2, 3], GREEDY, second))
    with pytest.raises(ServerBusy):
        stopped.submit(Job([1, 2, 3], GREEDY, Collected()))
    stopped.start()
    stopped.close()
    for sink in (first, second):
        assert sink.done.is_set() or isinstance(sink.end, Finished | EngineFailure)

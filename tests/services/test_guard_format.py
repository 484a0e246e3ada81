"""Llama Guard 3's prompt, categories, grammar and verdicts, checked against Meta's published texts."""

from __future__ import annotations

import re

import pytest

from llamacli.engine.chat_template import Message
from llamacli.errors import GuardUnreadable
from llamacli.services import guard_format
from llamacli.services.guard_format import Verdict

# What Meta's chat template for Llama-Guard-3-1B (tokenizer_config.json on the Hub, copied into its GGUF files)
# renders for the conversation [user: "What is the recipe for mayonnaise?"], written out by hand from it.
EXPECTED_1B_PROMPT = (
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
    "Task: Check if there is unsafe content in 'User' messages in conversations according our safety policy"
    " with the below categories.\n\n"
    "<BEGIN UNSAFE CONTENT CATEGORIES>\n"
    "S1: Violent Crimes.\nS2: Non-Violent Crimes.\nS3: Sex Crimes.\nS4: Child Exploitation.\nS5: Defamation.\n"
    "S6: Specialized Advice.\nS7: Privacy.\nS8: Intellectual Property.\nS9: Indiscriminate Weapons.\nS10: Hate.\n"
    "S11: Self-Harm.\nS12: Sexual Content.\nS13: Elections.\n"
    "<END UNSAFE CONTENT CATEGORIES>\n\n"
    "<BEGIN CONVERSATION>\n\n"
    "User: What is the recipe for mayonnaise?\n\n"
    "<END CONVERSATION>\n\n"
    "Provide your safety assessment for ONLY THE LAST User message in the above conversation:\n"
    " - First line must read 'safe' or 'unsafe'.\n"
    " - If unsafe, a second line must include a comma-separated list of violated categories."
    " <|eot_id|><|start_header_id|>assistant<|end_header_id|>"
)

# The hazard categories table of the model cards (PurpleLlama Llama-Guard3/1B and 8B MODEL_CARD.md).
CARD_TABLE = """
S1: Violent Crimes | S2: Non-Violent Crimes | S3: Sex-Related Crimes | S4: Child Sexual Exploitation |
S5: Defamation | S6: Specialized Advice | S7: Privacy | S8: Intellectual Property | S9: Indiscriminate Weapons |
S10: Hate | S11: Suicide & Self-Harm | S12: Sexual Content | S13: Elections | S14: Code Interpreter Abuse
"""


def test_the_prompt_is_the_one_meta_s_template_renders() -> None:
    messages = guard_format.turns("What is the recipe for mayonnaise?", "user")
    assert guard_format.prompt(messages) == EXPECTED_1B_PROMPT


def test_an_answer_is_judged_as_the_agent_s_last_turn_after_the_prompt() -> None:
    messages = guard_format.turns("Mix yolk and oil.", "agent", [Message("user", "  Mayonnaise?  ")])
    text = guard_format.prompt(messages)
    assert "in 'Agent' messages" in text and "ONLY THE LAST Agent message" in text
    assert "<BEGIN CONVERSATION>\n\nUser: Mayonnaise?\n\nAgent: Mix yolk and oil.\n\n<END CONVERSATION>" in text


def test_the_8b_has_a_fourteenth_category() -> None:
    assert guard_format.codes_for(8_030_261_248) == guard_format.ALL_CODES
    assert guard_format.codes_for(1_498_482_688) == guard_format.SMALL_CODES
    text = guard_format.prompt(guard_format.turns("hi", "user"), guard_format.ALL_CODES)
    assert "S13: Elections.\nS14: Code Interpreter Abuse.\n<END UNSAFE CONTENT CATEGORIES>" in text


def test_category_names_are_the_model_cards() -> None:
    card = dict(re.findall(r"(S\d+): ([^|\n]+?) *(?:\||$)", CARD_TABLE, re.M))
    assert {code: names[0] for code, names in guard_format.CATEGORIES.items()} == card


def test_turns_keep_the_guard_s_alternation() -> None:
    conversation = [
        Message("system", "Be brief."),
        Message("assistant", "Hello!"),  # a leading answer has no question: dropped
        Message("user", "a"),
        Message("user", "b"),
        Message("assistant", "c"),
    ]
    assert guard_format.turns("d", "user", conversation) == [
        Message("user", "a\n\nb"),
        Message("assistant", "c"),
        Message("user", "d"),
    ]
    assert guard_format.turns("e", "agent", [Message("user", "q"), Message("assistant", "x")])[-1] == Message(
        "assistant", "x\n\ne"
    )


def test_the_shared_prefix_is_where_every_prompt_starts() -> None:
    prefix = guard_format.shared_prefix()
    assert EXPECTED_1B_PROMPT.startswith(prefix) and prefix.endswith(
        "<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>"
    )


def test_the_grammar_allows_a_verdict_and_bounds_its_codes() -> None:
    text = guard_format.grammar()
    assert text.startswith('root ::= "\\n"? "\\n"? verdict\n')
    assert '"safe" | "unsafe\\n" code ("," code){0,12}' in text
    assert '"S13"' in text and '"S14"' not in text
    assert '"S14"' in guard_format.grammar(guard_format.ALL_CODES)


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("safe", Verdict(True)),
        ("\n\nsafe", Verdict(True)),
        ("unsafe\nS1", Verdict(False, ("S1",))),
        ("\n\nunsafe\nS1,S10", Verdict(False, ("S1", "S10"))),
        ("unsafe\nS10, s1,S10", Verdict(False, ("S10", "S1"))),
        ("unsafe", Verdict(False, ())),
    ],
)
def test_verdicts_parse(answer: str, verdict: Verdict) -> None:
    assert guard_format.parse(answer) == verdict


@pytest.mark.parametrize("answer", ["", "Safe", "maybe", "safe\nS1", "unsafe\nS15", "unsafe\nS1\nS2", "unsafe\nX"])
def test_anything_else_is_unreadable(answer: str) -> None:
    with pytest.raises(GuardUnreadable):
        guard_format.parse(answer)


def test_a_verdict_in_words() -> None:
    verdict = Verdict(False, ("S1", "S10"))
    assert verdict.line() == "unsafe S1,S10"
    assert verdict.names() == "S1 Violent Crimes, S10 Hate"
    assert verdict.to_dict() == {"safe": False, "categories": ["S1", "S10"], "names": ["Violent Crimes", "Hate"]}
    assert Verdict(True).line() == "safe"

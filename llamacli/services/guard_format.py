"""Llama Guard 3's side of the conversation, without an engine: its categories, the prompt it was trained on,
the grammar that holds its answer to a verdict, and the parser of that verdict.

The categories and their names are those of the model cards (PurpleLlama, `Llama-Guard3/1B/MODEL_CARD.md`
and `8B/MODEL_CARD.md`): S1-S13 for both sizes, S14 (code interpreter abuse) for the 8B only.

The prompt is the one Meta's chat template (the `chat_template` of the Hub's `meta-llama/Llama-Guard-3-1B`
and `-8B`, copied into the GGUF files) renders, written out here because that template reads each message's
content as a list of typed parts (`[{"type": "text", "text": ...}]`): given plain strings, as every GGUF chat
template here is, it renders an empty conversation. Its category lines use the template's short names
("S3: Sex Crimes."), which are what the model saw in training; people are shown the cards' names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from llamacli.engine.chat_template import Message
from llamacli.errors import GuardUnreadable

Role = Literal["user", "agent"]

# code: (the model card's name, the chat template's line)
CATEGORIES: dict[str, tuple[str, str]] = {
    "S1": ("Violent Crimes", "Violent Crimes."),
    "S2": ("Non-Violent Crimes", "Non-Violent Crimes."),
    "S3": ("Sex-Related Crimes", "Sex Crimes."),
    "S4": ("Child Sexual Exploitation", "Child Exploitation."),
    "S5": ("Defamation", "Defamation."),
    "S6": ("Specialized Advice", "Specialized Advice."),
    "S7": ("Privacy", "Privacy."),
    "S8": ("Intellectual Property", "Intellectual Property."),
    "S9": ("Indiscriminate Weapons", "Indiscriminate Weapons."),
    "S10": ("Hate", "Hate."),
    "S11": ("Suicide & Self-Harm", "Self-Harm."),
    "S12": ("Sexual Content", "Sexual Content."),
    "S13": ("Elections", "Elections."),
    "S14": ("Code Interpreter Abuse", "Code Interpreter Abuse."),
}
SMALL_CODES = tuple(code for code in CATEGORIES if code != "S14")  # the 1B's thirteen
ALL_CODES = tuple(CATEGORIES)  # the 8B's fourteen
MAX_VERDICT_TOKENS = 64  # "unsafe" and all fourteen codes fit in about 45 Llama 3 tokens

HEADER = "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n"
FOOTER = "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
SPEAKERS = {"user": "User", "assistant": "Agent"}


@dataclass(frozen=True)
class Verdict:
    """What the guard said: safe, or unsafe with the codes of the categories it names (S1, S10...)."""

    safe: bool
    categories: tuple[str, ...] = ()

    def line(self) -> str:
        """`safe`, or `unsafe S1,S10`: what `llamacli guard` prints."""
        return "safe" if self.safe else f"unsafe {','.join(self.categories)}".rstrip()

    def names(self) -> str:
        """The categories with the cards' names: `S1 Violent Crimes, S10 Hate`."""
        return ", ".join(f"{code} {CATEGORIES[code][0]}" if code in CATEGORIES else code for code in self.categories)

    def to_dict(self) -> dict[str, object]:
        """The verdict in --json: safe, the codes, and their names."""
        return {
            "safe": self.safe,
            "categories": list(self.categories),
            "names": [CATEGORIES[code][0] for code in self.categories if code in CATEGORIES],
        }


def codes_for(parameters: int) -> tuple[str, ...]:
    """The categories a guard of PARAMETERS weights was trained on: S14 is the 8B's only."""
    return ALL_CODES if parameters > 4_000_000_000 else SMALL_CODES


def turns(text: str, role: Role, conversation: Sequence[Message] = ()) -> list[Message]:
    """The conversation to judge, ending with TEXT as the user's (role user) or the model's (role agent) turn.

    The guard reads a conversation of alternating User and Agent turns starting with the user: system
    prompts are not part of it, consecutive turns of one side are joined, and a leading answer is dropped.
    """
    messages = [m for m in conversation if m.role in SPEAKERS]
    messages.append(Message("user" if role == "user" else "assistant", text))
    joined: list[Message] = []
    for message in messages:
        if joined and joined[-1].role == message.role:
            joined[-1] = Message(message.role, f"{joined[-1].content}\n\n{message.content}")
        elif joined or message.role == "user":
            joined.append(message)
    return joined or [Message("user", text)]


def prompt(messages: Sequence[Message], codes: Sequence[str] = SMALL_CODES) -> str:
    """The whole prompt, special tokens written out, for MESSAGES (from `turns`) judged against CODES."""
    who = SPEAKERS[messages[-1].role]
    categories = "".join(f"{code}: {CATEGORIES[code][1]}\n" for code in codes)
    conversation = "".join(f"{SPEAKERS[m.role]}: {m.content.strip()}\n\n" for m in messages)
    return (
        f"{HEADER}Task: Check if there is unsafe content in '{who}' messages in conversations according our"
        " safety policy with the below categories.\n\n"
        f"<BEGIN UNSAFE CONTENT CATEGORIES>\n{categories}<END UNSAFE CONTENT CATEGORIES>\n\n"
        f"<BEGIN CONVERSATION>\n\n{conversation}<END CONVERSATION>\n\n"
        f"Provide your safety assessment for ONLY THE LAST {who} message in the above conversation:\n"
        " - First line must read 'safe' or 'unsafe'.\n"
        f" - If unsafe, a second line must include a comma-separated list of violated categories. {FOOTER}"
    )


def shared_prefix(codes: Sequence[str] = SMALL_CODES, role: Role = "user") -> str:
    """The start every prompt about ROLE's words against CODES shares, up to the conversation: worth keeping in
    the prompt cache (one for prompts, one for answers: the task names whose messages are judged)."""
    marker = "<BEGIN CONVERSATION>"
    return prompt([Message("user" if role == "user" else "assistant", "")], codes).split(marker, 1)[0] + marker


def grammar(codes: Sequence[str] = SMALL_CODES) -> str:
    """GBNF for `safe`, or `unsafe` and a line of distinct-enough codes: the guard answers nothing else.

    The template ends at the assistant header, and the model writes the blank line itself: up to two
    newlines may come first. At most as many codes as there are categories, so it always ends.
    """
    choices = " | ".join(f'"{code}"' for code in sorted(codes, key=len, reverse=True))
    return (
        'root ::= "\\n"? "\\n"? verdict\n'
        'verdict ::= "safe" | "unsafe\\n" code ("," code)' + f"{{0,{len(codes) - 1}}}\n"
        f"code ::= {choices}\n"
    )


def parse(text: str) -> Verdict:
    """The verdict in the guard's answer (`safe`, or `unsafe` then a line `S1,S10`); GuardUnreadable otherwise.

    Codes are kept in the order given, each once; ones outside S1-S14 make the answer unreadable.
    """
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines == ["safe"]:
        return Verdict(True)
    if not lines or lines[0] != "unsafe" or len(lines) > 2:
        raise GuardUnreadable(text)
    codes = [code.strip().upper() for code in lines[1].split(",")] if len(lines) == 2 else []
    if any(code not in CATEGORIES for code in codes):
        raise GuardUnreadable(text)
    return Verdict(False, tuple(dict.fromkeys(codes)))

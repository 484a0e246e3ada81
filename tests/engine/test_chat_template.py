"""Chat templates from GGUF metadata render in a sandbox; escapes and failures become TemplateError."""

from __future__ import annotations

import pytest

from llamacli.engine.chat_template import ChatTemplate, Message, plain_prompt
from llamacli.errors import TemplateError

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_renders_conversation_with_generation_prompt() -> None:
    text = ChatTemplate(CHATML).render([Message("system", "Be brief."), Message("user", "Hi 👋")])
    assert text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi 👋<|im_end|>\n<|im_start|>assistant\n"


def test_bos_token_and_helpers_are_available() -> None:
    template = ChatTemplate("{{ bos_token }}{{ messages | tojson }}{{ strftime_now('%Y') | length }}", bos_token="<s>")
    assert template.render([Message("user", "é")]) == '<s>[{"role": "user", "content": "é"}]4'


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{% set x = messages.append(1) %}",
    ],
)
def test_escape_attempts_are_refused(source: str) -> None:
    with pytest.raises(TemplateError) as refused:
        ChatTemplate(source).render([Message("user", "hi")])
    assert refused.value.reason.startswith("it tried to reach outside its sandbox")


def test_raise_exception_and_syntax_errors_are_reported() -> None:
    with pytest.raises(TemplateError, match="roles must alternate"):
        ChatTemplate("{{ raise_exception('roles must alternate') }}").render([Message("user", "x")])
    with pytest.raises(TemplateError, match="syntax error"):
        ChatTemplate("{% for %}")


def test_plain_prompt_for_models_without_template() -> None:
    assert plain_prompt([Message("system", "S"), Message("user", "U")]) == "S\n\nU"

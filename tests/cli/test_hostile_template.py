"""A GGUF whose chat template tries to escape Jinja's sandbox: a clear error, and no effect."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import run_cli
from tests.support.gguf_factory import copy_gguf

pytestmark = pytest.mark.slow

ESCAPES = {
    "popen": "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "subclasses": "{% for c in ''.__class__.__mro__[1].__subclasses__() %}{% if 'Popen' in c.__name__ %}"
    "{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
    "mutation": "{% set _ = messages.append({'role': 'user', 'content': 'x'}) %}{{ messages }}",
}


@pytest.fixture(scope="module")
def template_copies(smollm2_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("templates")
    copies = {}
    for name, source in ESCAPES.items():
        marker = folder / f"pwned-{name}"
        template = source.replace("MARKER", str(marker))
        copies[name] = (copy_gguf(smollm2_path, folder / f"{name}.gguf", {"tokenizer.chat_template": template}), marker)
    return copies


@pytest.mark.parametrize("name", sorted(ESCAPES))
def test_escaping_template_fails_cleanly_without_effect(
    template_copies: dict[str, tuple[Path, Path]], name: str
) -> None:
    path, marker = template_copies[name]
    result = run_cli("run", str(path), "hello", "-n", "4")
    assert result.returncode == 3, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"llamacli: error: the model's chat template cannot be used")
    assert result.stderr.count(b"\n") == 1
    assert not marker.exists()


def test_the_copy_with_its_own_template_still_works(smollm2_path: Path, tmp_path: Path) -> None:
    """The factory makes loadable models: a benign template change runs (so failures above are the template's)."""
    template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n"
    )
    path = copy_gguf(smollm2_path, tmp_path / "benign.gguf", {"tokenizer.chat_template": template})
    result = run_cli("run", str(path), "Say hi.", "-n", "4", "--temperature", "0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()

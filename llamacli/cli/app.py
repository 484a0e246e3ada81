"""The Typer application and `main`, the one place where errors become messages and exit codes."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

from llamacli import __version__
from llamacli.cli import exit_codes, messages
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, LlamacliError

EPILOG = exit_codes.epilog(*ExitCode)

# name -> (module, attribute, options). Each is imported only when it is the command being run (or
# for the top-level help): building every command's parameters from its signature costs ~30 ms per run.
_COMMANDS: dict[str, tuple[str, str, dict[str, object]]] = {
    "run": ("run_cmd", "run", {"epilog": "RUN_EPILOG"}),
    "chat": ("chat_cmd", "chat", {"epilog": "CHAT_EPILOG"}),
    "history": ("history_cmd", "app", {}),  # a sub-app: `history show`
    "cache": ("cache_cmd", "app", {}),  # a sub-app: `cache clear`
    "pull": ("models_cmd", "pull", {"epilog": "PULL_EPILOG"}),
    "list": ("models_cmd", "list_models", {"epilog": "LIST_EPILOG"}),
    "ls": ("models_cmd", "list_models", {"hidden": True, "epilog": None}),
    "rm": ("models_cmd", "rm", {"epilog": "RM_EPILOG"}),
    "show": ("models_cmd", "show", {"epilog": "SHOW_EPILOG"}),
    "import": ("models_cmd", "import_", {"epilog": "IMPORT_EPILOG"}),
    "models": ("models_cmd", "catalog", {"epilog": "LIST_EPILOG"}),
    "quantize": ("quantize_cmd", "quantize", {"epilog": "QUANTIZE_EPILOG"}),
    "recommend": ("recommend_cmd", "recommend", {"epilog": "RECOMMEND_EPILOG"}),
    "hw": ("recommend_cmd", "recommend", {"help": "Alias of 'recommend'.", "epilog": "RECOMMEND_EPILOG"}),
    "doctor": ("doctor_cmd", "doctor", {"epilog": "DOCTOR_EPILOG"}),
    "paths": ("paths_cmd", "paths", {"epilog": "PATHS_EPILOG"}),
    "serve": ("serve_cmd", "serve", {"epilog": "SERVE_EPILOG"}),
    "remotes": ("remotes_cmd", "remotes", {"epilog": "REMOTES_EPILOG"}),
    "guard": ("guard_cmd", "guard", {"epilog": "GUARD_EPILOG"}),
}
HELP = "help"  # `llamacli help [COMMAND...]`: the same as `llamacli [COMMAND...] --help`


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llamacli {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Run open-weight Llama-family models locally, on any CPU, with no server and no account."""


def build(only: str | None = None) -> typer.Typer:
    """The Typer application with every command, or with just ONLY (the one this process runs)."""
    app = typer.Typer(
        name="llamacli",
        help="Run open-weight Llama-family models locally, on any CPU, with no server and no account.",
        epilog=EPILOG,
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,  # plain help: faster start-up, and nothing to strip for NO_COLOR
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(_root)
    for name, (module_name, attribute, options) in _COMMANDS.items():
        if only is not None and name != only:
            continue
        module = importlib.import_module(f"llamacli.cli.{module_name}")
        target = getattr(module, attribute)
        if isinstance(target, typer.Typer):
            app.add_typer(target, name=name)
            continue
        settings = {"epilog": EPILOG, **options}
        if isinstance(settings["epilog"], str) and settings["epilog"].isidentifier():
            settings["epilog"] = getattr(module, settings["epilog"])
        app.command(name, **settings)(target)  # type: ignore[arg-type]
    if only is None:  # listed in the top-level help; `main` turns `help ...` into `... --help` before Typer
        app.command(HELP, help="Show the help of llamacli, or of a command: llamacli help pull.")(_help)
    return app


def _help(
    command: Annotated[
        list[str] | None, typer.Argument(metavar="[COMMAND]...", help="A command, e.g. pull.", show_default=False)
    ] = None,
) -> None:
    """Only listed: `main` rewrites `llamacli help CMD` as `llamacli CMD --help` before parsing."""


def _command_named(argv: list[str]) -> str | None:
    """The command ARGV runs, when its first word names one (options before it: let Typer see all)."""
    return argv[0] if argv and argv[0] in _COMMANDS else None


def _expand_help(argv: list[str]) -> list[str]:
    """`help` and `help CMD [SUB]` as `--help` and `CMD [SUB] --help`, as git and ollama users type them."""
    if argv and argv[0] == HELP:
        return [*argv[1:], "--help"]
    return argv


def main() -> None:
    """Console-script entry point: run the app, turn domain errors into one line and an exit code."""
    argv = _expand_help(sys.argv[1:])
    try:
        build(_command_named(argv))(args=argv, prog_name="llamacli")
    except LlamacliError as e:
        said = messages.describe(e)
        Output().error(said.text, said.hint)
        sys.exit(int(said.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))

"""The Typer application and `main`, the one place where errors become messages and exit codes."""

from __future__ import annotations

import sys

import typer

from llamacli import __version__
from llamacli.cli import chat_cmd, history_cmd, models_cmd, recommend_cmd, run_cmd
from llamacli.cli.output import Output
from llamacli.errors import ExitCode, LlamacliError

EPILOG = """\b
Exit codes:
  0    success
  1    user error (unknown model, bad value, prompt too long for the context)
  2    usage error (unknown option, missing argument)
  3    the model failed to load (corrupt, truncated or unsupported file)
  4    network or download failure
  130  interrupted (Ctrl-C)
  141  stdout was closed early (e.g. piped into head)
"""

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


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llamacli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Run open-weight Llama-family models locally, on any CPU, with no server and no account."""


app.command("run", epilog=EPILOG)(run_cmd.run)
app.command("chat", epilog=EPILOG)(chat_cmd.chat)
app.add_typer(history_cmd.app, name="history")
app.command("pull", epilog=models_cmd.PULL_EPILOG)(models_cmd.pull)
app.command("list", epilog=EPILOG)(models_cmd.list_models)
app.command("ls", hidden=True)(models_cmd.list_models)
app.command("rm", epilog=EPILOG)(models_cmd.rm)
app.command("show", epilog=EPILOG)(models_cmd.show)
app.command("import", epilog=EPILOG)(models_cmd.import_)
app.command("models", epilog=EPILOG)(models_cmd.catalog)
app.command("recommend", epilog=EPILOG)(recommend_cmd.recommend)
app.command("hw", epilog=EPILOG, help="Alias of 'recommend'.")(recommend_cmd.recommend)


def main() -> None:
    """Console-script entry point: run the app, turn domain errors into one line and an exit code."""
    try:
        app()
    except LlamacliError as e:
        Output().error(e.message, e.hint)
        sys.exit(int(e.exit_code))
    except KeyboardInterrupt:
        sys.exit(int(ExitCode.INTERRUPTED))

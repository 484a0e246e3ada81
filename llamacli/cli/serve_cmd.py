"""`llamacli serve`: the local engine as an OpenAI- and ollama-compatible HTTP API."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from llamacli.cli import exit_codes, options
from llamacli.cli.output import Output
from llamacli.errors import ExitCode

SERVE_EPILOG = exit_codes.epilog(
    (ExitCode.OK, "stopped by Ctrl-C or SIGTERM (running streams drained or cut)"),
    (
        ExitCode.USER_ERROR,
        "a model named to serve cannot be found, an adapter does not fit it, or the address is taken",
    ),
    (ExitCode.USAGE, "usage error (unknown option; --host beyond loopback without --api-key)"),
    ExitCode.MODEL_LOAD,
    ExitCode.NETWORK,
)
DEFAULT_PORT = 11435  # ollama's is 11434: both can run side by side
API_KEY_ENV = "LLAMACLI_API_KEY"


def serve(
    models: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[MODEL]...",
            help="Models to load now and keep loaded (others load on first request).",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; beyond loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one, printed at start).")] = DEFAULT_PORT,
    parallel: Annotated[
        int, typer.Option("--parallel", "-np", help="Requests generated at once per model, batched.", min=1, max=64)
    ] = 4,
    keep_alive: Annotated[
        str, typer.Option("--keep-alive", help="How long a model stays loaded after its last request (-1: forever).")
    ] = "5m",
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help=f"Require this Bearer token (default: ${API_KEY_ENV}).", show_default=False),
    ] = None,
    cors: Annotated[
        list[str] | None, typer.Option("--cors", metavar="ORIGIN", help="Allow browser calls from ORIGIN (repeatable).")
    ] = None,
    queue: Annotated[int, typer.Option(help="Requests that may wait for a slot, per model, before 503.", min=0)] = 64,
    ctx: options.Ctx = None,
    lora: options.Lora = None,
    threads: options.Threads = None,
    system: options.System = None,
    temperature: options.Temperature = None,
    guard: Annotated[
        bool,
        typer.Option(
            "--guard",
            help="Screen every prompt and answer with a Llama Guard 3 model (default llama-guard3:1b); unsafe:"
            " 400 content_blocked. Guarded answers are generated whole before they are sent.",
        ),
    ] = False,
    guard_model: Annotated[
        str | None, typer.Option("--guard-model", metavar="MODEL", help="The guard model (implies --guard).")
    ] = None,
    json_log: Annotated[bool, typer.Option("--json-log", help="One JSON object per request on stderr.")] = False,
    debug: options.Debug = False,
    offline: options.Offline = False,
) -> None:
    """Serve models over HTTP: the OpenAI API (/v1/...) and ollama's (/api/...).

    \b
    Examples:
      llamacli serve                       # http://127.0.0.1:11435, models load on first request
      llamacli serve llama3.2:1b --parallel 8 --keep-alive 30m
      llamacli serve smollm2:135m --lora pirate.gguf   # the adapter on the models named here
      OPENAI_BASE_URL=http://127.0.0.1:11435/v1 OPENAI_API_KEY=none python app.py
      OLLAMA_HOST=127.0.0.1:11435 ollama run smollm2:135m   # ollama's own clients
      llamacli serve --guard               # every prompt and answer screened by llama-guard3:1b

    Ctrl-C or SIGTERM stops accepting requests, lets running ones finish for up to 3 s, ends the rest
    (they hear "the server is shutting down"), and exits 0.
    """
    import dataclasses

    from llamacli import __version__
    from llamacli.base.durations import parse_duration
    from llamacli.cli import loading, messages
    from llamacli.errors import AddressNeedsKey, InvalidValue, UsageError
    from llamacli.server import run as server_run
    from llamacli.server.config import ServerConfig, is_loopback
    from llamacli.services.guard import DEFAULT_GUARD
    from llamacli.services.model_pool import PoolConfig

    out = Output()
    key = api_key or os.environ.get(API_KEY_ENV) or None
    if not is_loopback(host) and not key:
        raise AddressNeedsKey(host)
    alive = parse_duration(keep_alive, "--keep-alive")
    chosen = options.resolve(out, options.flags(locals()), debug=debug)
    load = dataclasses.replace(chosen.load, prompt_cache_dir=None)  # slots keep prefixes in memory
    policy = loading.policy(out, offline=offline, pull_best=False)
    if lora and not models:
        raise UsageError(
            "--lora applies to the models named to serve: name one", "e.g. llamacli serve MODEL --lora FILE"
        )
    adapters = options.with_lora(chosen, lora).load.adapters
    pool = PoolConfig(
        load,
        parallel=parallel,
        keep_alive=alive,
        queue_limit=queue,
        policy=policy,
        adapters=adapters,
        adapted=tuple(models or ()),
    )
    try:
        sock = server_run.bind(host, port)
    except OSError as e:
        raise InvalidValue(f"cannot listen on {host}:{port}: {e.strerror or e}", "choose another --port") from None
    bound = sock.getsockname()[1]

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    config = ServerConfig(
        pool=pool,
        host=host,
        port=bound,
        api_key=key,
        cors_origins=tuple(cors or ()),
        models=tuple(models or ()),
        defaults=chosen.gen,
        system=chosen.system,
        guard=(guard_model or DEFAULT_GUARD) if guard or guard_model else None,
        json_log=json_log,
        debug=debug,
        words=lambda e: messages.describe(e).line(),
        log=log,
        version=__version__,
    )
    url = f"http://[{host}]:{bound}" if ":" in host else f"http://{host}:{bound}"
    feedback = loading.feedback(out)
    if json_log:  # the pool's notices (a model unloaded to make room) as JSON lines too
        feedback = dataclasses.replace(feedback, notify=config.notice)
    with sock:
        server_run.serve(config, sock, feedback, ready=lambda: config.notice(f"listening on {url}", url=url))

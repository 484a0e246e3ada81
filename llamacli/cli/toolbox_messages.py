"""The words of the newer capabilities' errors (serve, structured output, quantize, the guard), registered
into `messages.TABLE` as `remote_messages` does: the table stays one table, its modules each one area.
"""

from __future__ import annotations

from llamacli import errors as err
from llamacli.cli.messages import LOAD, USAGE, USER, Words, _says
from llamacli.errors import ExitCode

# -- the server ------------------------------------------------------------------------------------


@_says(USER, err.ServerBusy)
def _server_busy(e: err.ServerBusy) -> Words:
    if e.queued == 0:
        return "the server is shutting down", "send the request again once it is back"
    return f"the server is busy: {e.queued} requests are waiting already", "try again in a few seconds"


@_says(USER, err.ModelInUse)
def _model_in_use(e: err.ModelInUse) -> Words:
    some = "a request is" if e.requests == 1 else f"{e.requests} requests are"
    return f"{e.model} is in use: {some} generating with it", "delete it once they have finished"


@_says(LOAD, err.EngineFailure)
def _engine_failure(e: err.EngineFailure) -> Words:
    return f"generation stopped: {e.reason}", None


@_says(USAGE, err.AddressNeedsKey)
def _address_needs_key(e: err.AddressNeedsKey) -> Words:
    return (
        f"refusing to listen on {e.host} without an API key: anyone who can reach it could use this machine",
        "pass --api-key KEY (or set LLAMACLI_API_KEY), or keep the default --host 127.0.0.1",
    )


# -- structured output -----------------------------------------------------------------------------


@_says(USER, err.SchemaUnsupported)
def _schema_unsupported(e: err.SchemaUnsupported) -> Words:
    place = "" if e.where == "#" else f" at {e.where}"
    return (
        f"the schema's '{e.keyword}'{place} cannot be enforced: {e.why}",
        "remove it, or say it with the keywords docs/structured-output.md lists",
    )


@_says(USER, err.DocumentCut)
def _document_cut(e: err.DocumentCut) -> Words:
    return (
        f"the answer was cut after {e.generated} tokens, before its JSON document closed",
        "raise -n (--max-tokens) or the context (--ctx)",
    )


# -- models split into parts (models/splits.py) -------------------------------------------------------


@_says(USER, err.MissingPart)
def _missing_part(e: err.MissingPart) -> Words:
    return (
        f"part {e.no} of {e.count} of this split model is missing: {e.path}",
        "put every part next to the first, named as the Hub names them (NAME-0000i-of-0000N.gguf)",
    )


# -- quantize --------------------------------------------------------------------------------------


@_says(USER, err.QuantizeNameInUse)
def _quantize_name_in_use(e: err.QuantizeNameInUse) -> Words:
    if e.file is None:
        return f"'{e.name}' is a registry name", "choose another with --name"
    return f"'{e.name}' already names {e.file}", "choose another --name, or remove that one first: llamacli rm NAME"


@_says(USER, err.UnknownQuantType)
def _unknown_quant_type(e: err.UnknownQuantType) -> Words:
    return f"cannot quantize to '{e.target}'", "choose one of " + ", ".join(e.choices)


@_says(USER, err.RequantizeRefused)
def _requantize_refused(e: err.RequantizeRefused) -> Words:
    return (
        f"{e.source} is already quantized ({e.quant}): quantizing it again loses more quality",
        "start from an F16, BF16 or F32 file, or add --allow-requantize",
    )


@_says(LOAD, err.QuantizeFailed)
def _quantize_failed(e: err.QuantizeFailed) -> Words:
    return f"llama.cpp could not quantize {e.path}: {e.reason}", "nothing was written"


# -- the guard -------------------------------------------------------------------------------------


@_says(ExitCode.BLOCKED, err.GuardBlocked)
def _guard_blocked(e: err.GuardBlocked) -> Words:
    return f"{e.guard} found the {e.stage} unsafe: {e.names or 'no category named'}", None  # prompt, message, answer


@_says(USER, err.GuardUnreadable)
def _guard_unreadable(e: err.GuardUnreadable) -> Words:
    return (
        f"the guard model answered something that is not a verdict: {e.text.strip()[:60]!r}",
        "is it a Llama Guard 3 model? (--guard-model)",
    )

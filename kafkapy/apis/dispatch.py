"""The one door every request goes through: version check, SASL authentication, pre-handler hooks, handler,
exception policy.

The server deals only in bytes and connections; what a decoded request is answered with is decided
here, as in Kafka's KafkaApis.handle. An API or version we do not serve closes the connection (the
client cannot read an answer in a version it did not negotiate), except ApiVersions, which answers
in v0. On a SASL connection that is not (or no longer) authenticated, kafkapy.security.sasl's ``door``
decides what is served, as Kafka's SaslServerAuthenticator does before KafkaApis. Before the handler, the
broker's ``request_hooks`` may answer the request with an error
(injected faults, quotas: franz-go kfake's ``tryControl``). A handler that fails unexpectedly answers
UNKNOWN_SERVER_ERROR, built from the specs like Kafka's ``getErrorResponse``, and the connection stays open.
An error the request's version cannot carry is replaced in the handler's answer by the one Kafka sends those
clients instead, from the specs' ``error`` lines (PRODUCER_FENCED is INVALID_PRODUCER_EPOCH for EndTxn v0-1),
so handlers answer in the newest vocabulary and no handler maps versions by hand.
Once a client quota is stored, each answered request is recorded against its client's quotas
(kafkapy/security/quotas/throttle.py) and the answer carries how long the connection is then muted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import trio

from kafkapy.apis import HANDLERS, CloseConnection, RequestContext
from kafkapy.apis.api_versions import unsupported_version_response
from kafkapy.logging_setup import RateLimitedLog
from kafkapy.protocol.connection import Request
from kafkapy.protocol.error_response import ERROR_FIELDS, error_response
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import ApiKey, Replacement
from kafkapy.security.sasl import Door, door

# The server's logger: these lines were the server's before dispatch moved here.
log = logging.getLogger("kafkapy.server")
# Lines a client can cause by sending unsupported or failing requests, at most a few a second each
# however many connections send them (a fuzzer grew the log by megabytes without these).
unsupported_log = RateLimitedLog(log)
handler_closed_log = RateLimitedLog(log)
handler_failed_log = RateLimitedLog(log)
unauthenticated_log = RateLimitedLog(log)

# Runs before the handler: an error code answers the request with it, None lets it through.
PreHandlerHook = Callable[[RequestContext], ErrorCode | None]


@dataclass(slots=True)
class Answer:
    """A response body, encoded in the request's version unless ``version`` says otherwise.

    ``throttle_s``: how long the connection reads no request after this answer (Kafka mutes a
    throttled client's channel once the response is sent); a body of None sends nothing (acks=0).
    """

    body: dict | None
    version: int | None = None
    throttle_s: float = 0.0
    # Close the connection once this answer is sent.
    close: bool = False


async def dispatch(ctx: RequestContext, request: Request) -> Answer | None:
    """The answer to ``request``, or None when none is sent (acks=0 Produce).

    Raises CloseConnection when Kafka would close the connection instead of answering.
    """
    started = time.perf_counter()
    handler = HANDLERS.get(request.api_key)
    if request.api_key == ApiKey.API_VERSIONS and (request.body is None or not handler.supports(request.api_version)):
        return Answer(unsupported_version_response(), version=0)
    if handler is None or request.body is None or not handler.supports(request.api_version):
        # Apache Kafka closes the connection too: the client cannot read an answer in a
        # version it did not negotiate through ApiVersions.
        unsupported_log.warning(
            "closing connection: unsupported request",
            peer=ctx.peer,
            api_key=request.api_key,
            api_version=request.api_version,
        )
        raise CloseConnection("unsupported request")
    if (refusal := _authentication_door(ctx, request)) is not None:
        return refusal
    hooks = ctx.broker.request_hooks
    quotas = ctx.broker.client_quotas
    metered = quotas.enabled
    try:
        if hooks and (code := _run_hooks(hooks, ctx)) is not None:
            return error_answer(request, code)
        if metered:
            cpu_started = quotas.before_handler(ctx.principal, request)
        body = await handler.func(ctx, request.body)
    except CloseConnection as exc:
        handler_closed_log.info("closing connection", api=handler.name, peer=ctx.peer, reason=str(exc))
        if exc.response is not None:
            return Answer(exc.response, close=True)
        raise
    except Exception:
        handler_failed_log.exception("handler failed; answering UNKNOWN_SERVER_ERROR", api=handler.name, peer=ctx.peer)
        return error_answer(request, ErrorCode.UNKNOWN_SERVER_ERROR)
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "request",
            extra={
                "api": handler.name,
                "version": request.api_version,
                "correlation_id": request.correlation_id,
                "client_id": request.client_id,
                "size": request.size,
                "peer": ctx.peer,
                "listener": ctx.listener_name,
                "principal": ctx.principal,
                "ms": round((time.perf_counter() - started) * 1000, 3),
            },
        )
    maps = handler.door_error_maps
    if maps is not None and body is not None and (mapping := maps.get(request.api_version)) is not None:
        remap_errors(body, mapping)
    if metered and (throttle_ms := quotas.throttle_ms(ctx.principal, request, body, cpu_started)):
        return Answer(body, throttle_s=throttle_ms / 1000)
    return None if body is None else Answer(body)


def remap_errors(body: dict, mapping: dict[int, Replacement]) -> None:
    """Replace, in place and at any depth, each error field of ``body`` that ``mapping`` names, and set its
    struct's error message when the mapping gives one (handlers build a fresh answer per request, so
    nothing shared is rewritten)."""
    message = None
    for name, value in body.items():
        if name in ERROR_FIELDS:
            if (replacement := mapping.get(value)) is not None:
                body[name], message = replacement
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    remap_errors(item, mapping)
    if message is not None:
        body["error_message"] = message


def _authentication_door(ctx: RequestContext, request: Request) -> Answer | None:
    """None when the request may reach its handler; else Kafka's refusal on a SASL connection that is
    not (or no longer) authenticated: an ILLEGAL_SASL_STATE answer before closing, or a close."""
    verdict = door(ctx.session, request.api_key, trio.current_time)
    if verdict is Door.SERVE:
        return None
    unauthenticated_log.info(
        "closing connection: request outside SASL authentication", peer=ctx.peer, api_key=request.api_key
    )
    if verdict is Door.CLOSE:
        raise CloseConnection("request outside SASL authentication")
    answer = error_answer(request, ErrorCode.ILLEGAL_SASL_STATE)
    answer.close = True
    return answer


def _run_hooks(hooks: list[PreHandlerHook], ctx: RequestContext) -> ErrorCode | None:
    """The first error a hook answers with, or None when every hook lets the request through."""
    for hook in hooks:
        code = hook(ctx)
        if code is not None:
            return code
    return None


def error_answer(request: Request, code: ErrorCode, message: str | None = None) -> Answer:
    """Answer ``request`` with ``code`` in every error field; closes the connection where no
    response is read (acks=0 Produce), as Kafka's RequestHandlerHelper does for a null error response."""
    body = error_response(request.api_key, request.api_version, request.body, code, message)
    if body is None:
        raise CloseConnection(f"{ErrorCode(code).name} for a request without a response")
    return Answer(body)

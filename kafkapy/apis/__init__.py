"""Request handlers, one module per API (like franz-go's kfake).

Each handler declares the versions it serves with ``@handler(key, min, max, acl=...)`` beside its
code; ApiVersions answers from this registry, so what is advertised is exactly what is implemented.
``acl`` lists the (resource type, operation) pairs the handler asks ``ctx.authorize`` about, after
Kafka's KafkaApis; tests/integration/test_dispatch_wire.py holds every handler to it with an
authorizer that denies everything.
The request path around the handlers (version check, hooks, exception policy) is ``dispatch``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kafkapy.acl import CLUSTER_NAME, AclOperation, ResourceType
from kafkapy.protocol.error_response import error_response
from kafkapy.protocol.errors import ErrorCode
from kafkapy.protocol.specs import Replacement, api_specs
from kafkapy.security.session import Session

if TYPE_CHECKING:
    from kafkapy.broker import Broker
    from kafkapy.protocol.connection import Request


@dataclass
class RequestContext:
    """What a handler knows besides the request body: who sent it, from where, through which listener.

    ``client_host`` is the client's host alone (Kafka's RequestContext.clientAddress); ``peer`` is
    "host:port", for logs.
    """

    broker: Broker
    request: Request
    client_host: str = ""
    peer: str = ""
    session: Session = field(default_factory=Session)

    @property
    def principal(self) -> str:
        """Kafka's principal, "User:<name>" (User:ANONYMOUS before or without authentication)."""
        return self.session.principal

    @property
    def listener_name(self) -> str:
        return self.session.listener_name

    @property
    def version(self) -> int:
        return self.request.api_version

    def authorize(self, operation: AclOperation, resource_type: ResourceType, name: str = CLUSTER_NAME) -> bool:
        """May this request's principal do ``operation`` on the resource? One question per resource."""
        return self.broker.authorizer(self, operation, resource_type, name)

    def authorize_any(self, operation: AclOperation, resource_type: ResourceType) -> bool:
        """May this request's principal do ``operation`` on some resource of the type (Kafka's
        authorizeByResourceType)? An authorizer without that question is asked about the name ``*``."""
        by_type = getattr(self.broker.authorizer, "authorize_by_resource_type", None)
        if by_type is None:
            return self.authorize(operation, resource_type, "*")
        return by_type(self, operation, resource_type)

    def error_response(self, code: ErrorCode, message: str | None = None) -> dict | None:
        """This request answered with ``code`` (and ``message``, if given) in every error field, for an
        error of the whole request, like a denial (Kafka's getErrorResponse, sent by
        sendErrorResponseMaybeThrottle); None for an acks=0 Produce."""
        return error_response(self.request.api_key, self.version, self.request.body, code, message)

    def versioned_error(self, code: ErrorCode, message: str | None = None) -> tuple[ErrorCode, str | None]:
        """``code`` and ``message`` as this request's version carries them (the specs' ``error`` lines), for
        a handler registered with ``maps_errors``."""
        maps = HANDLERS[self.request.api_key].error_maps
        replacement = maps[self.version].get(code) if maps and self.version in maps else None
        if replacement is None:
            return code, message
        return replacement[0], replacement[1] if replacement[1] is not None else message


class CloseConnection(Exception):
    """Raised by a handler when Kafka would answer by closing the connection; with ``response``, the
    connection is closed after that answer is sent (a failed SASL authentication)."""

    def __init__(self, reason: str, response: dict | None = None) -> None:
        super().__init__(reason)
        self.response = response


HandlerFunc = Callable[[RequestContext, Any], Awaitable[dict | None]]


# The (resource type, operation) pairs a handler authorizes.
Acl = tuple[tuple[ResourceType, AclOperation], ...]


@dataclass(frozen=True)
class Handler:
    api_key: int
    name: str
    min_version: int
    max_version: int
    func: HandlerFunc
    acl: Acl = ()
    # The specs' ``error`` lines by version, for the versions that map an error; None for an API without
    # any (Produce, Fetch...), whose answers the dispatch door then never walks.
    error_maps: dict[int, dict[int, Replacement]] | None = None
    # What the dispatch door walks the answers with: ``error_maps``, except for a handler that applies
    # them itself where it builds an error (``maps_errors``: Produce, whose successful answers are then
    # never walked).
    door_error_maps: dict[int, dict[int, Replacement]] | None = None

    def supports(self, version: int) -> bool:
        return self.min_version <= version <= self.max_version


HANDLERS: dict[int, Handler] = {}


def handler(
    api_key: int, min_version: int, max_version: int, *, acl: Acl, maps_errors: bool = False
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register ``func`` as the handler of ``api_key`` for versions min..max.

    A handler returns the response body as a dict (fields it leaves out take their spec default),
    or None when no response is sent (Produce with acks=0). ``acl`` is what it authorizes (empty
    only for APIs Kafka serves to anyone, like ApiVersions). ``maps_errors``: the handler passes each
    error it answers through ``ctx.versioned_error`` instead of having the door walk its answers.
    """
    spec = api_specs()[api_key]
    if min_version not in spec.versions or max_version not in spec.versions:
        raise ValueError(f"{spec.name} {min_version}-{max_version} is outside its spec {spec.versions}")

    error_maps = {v: m for v in range(min_version, max_version + 1) if (m := spec.error_map(v))}

    def register(func: HandlerFunc) -> HandlerFunc:
        maps = error_maps or None
        HANDLERS[api_key] = Handler(
            api_key, spec.name, min_version, max_version, func, acl, maps, None if maps_errors else maps
        )
        return func

    return register


def load_handlers() -> dict[int, Handler]:
    """Import every module of this package (each handler registers itself) and return the registry."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return HANDLERS

"""ApiVersions (key 18), versions 0-4: which APIs and versions this broker serves.

v0: api keys with min/max versions.
v1: throttle_time_ms.
v2: same as v1.
v3: flexible; client software name and version; supported/finalized features (tagged, none sent).
v4: same as v3; clients send it to learn that v4+ exists (UNSUPPORTED_VERSION answers use v0).
"""

from __future__ import annotations

from kafkapy.apis import HANDLERS, RequestContext, handler
from kafkapy.protocol.errors import ErrorCode


def api_keys() -> list[dict]:
    """The advertised ranges, computed from the registered handlers."""
    return [
        {"api_key": h.api_key, "min_version": h.min_version, "max_version": h.max_version}
        for h in sorted(HANDLERS.values(), key=lambda h: h.api_key)
    ]


def unsupported_version_response() -> dict:
    """Kafka's answer to an ApiVersions version it does not know, sent as v0."""
    return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": api_keys()}


@handler(18, 0, 4, acl=())
async def handle_api_versions(ctx: RequestContext, request: dict) -> dict:
    return {"error_code": ErrorCode.NONE, "api_keys": api_keys()}

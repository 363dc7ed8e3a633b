"""ApiVersions (key 18), versions 0-4: which APIs and versions this broker serves.

v0: api keys with min/max versions.
v1: throttle_time_ms.
v2: same as v1.
v3: flexible; client software name and version; supported and finalized features (tagged, KIP-584),
    supported features whose lowest level is 0 left out, as Kafka leaves them out before v4.
v4: same as v3 with every supported feature; clients send it to learn that v4+ exists (UNSUPPORTED_VERSION
    answers use v0).
"""

from __future__ import annotations

from kafkapy.apis import HANDLERS, RequestContext, handler
from kafkapy.features import FeatureStore
from kafkapy.protocol.errors import ErrorCode

# The first version whose supported features include those with a lowest level of 0.
ALL_SUPPORTED_FEATURES_VERSION = 4


def api_keys() -> list[dict]:
    """The advertised ranges, computed from the registered handlers."""
    return [
        {"api_key": h.api_key, "min_version": h.min_version, "max_version": h.max_version}
        for h in sorted(HANDLERS.values(), key=lambda h: h.api_key)
    ]


def unsupported_version_response() -> dict:
    """Kafka's answer to an ApiVersions version it does not know, sent as v0."""
    return {"error_code": ErrorCode.UNSUPPORTED_VERSION, "api_keys": api_keys()}


def features(store: FeatureStore, version: int) -> dict:
    """The feature fields of a v3+ response (absent from older versions' encoding)."""
    supported = [
        {"name": f.name, "min_version": f.min_level, "max_version": f.max_level}
        for f in store.supported()
        if version >= ALL_SUPPORTED_FEATURES_VERSION or f.min_level > 0
    ]
    finalized = [
        {"name": name, "max_version_level": level, "min_version_level": level}
        for name, level in store.finalized().items()
    ]
    return {
        "supported_features": supported,
        "finalized_features_epoch": store.epoch,
        "finalized_features": finalized,
        "zk_migration_ready": False,
    }


@handler(18, 0, 4, acl=())
async def handle_api_versions(ctx: RequestContext, request: dict) -> dict:
    return {"error_code": ErrorCode.NONE, "api_keys": api_keys(), **features(ctx.broker.features, ctx.version)}

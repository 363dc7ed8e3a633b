"""UpdateFeatures (key 57), versions 0-2: changes finalized feature levels (kafka-features upgrade/downgrade).

v0: features with a level and allow_downgrade, which Kafka's controller ignores: every v0 update is an
    upgrade (the upgrade type field it reads is absent, so it takes its default).
v1: upgrade type (1 upgrade, 2 safe downgrade, 3 unsafe downgrade) and validate_only.
v2: no per-feature results; the top-level error says it all.
The principal must ALTER the cluster. The updates are checked as Kafka's FeatureControlManager checks
them (kafkapy/features.py) and applied all together or not at all: the first refused update fails the
request with INVALID_UPDATE_VERSION and Kafka's message. On success v0-v1 list every feature with
error 0 and the message "NONE", as Kafka's controller sends them.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.features import UPGRADE, FeatureUpdate
from kafkapy.protocol.errors import ErrorCode, KafkaError

# Kafka's ControllerApis prefix to the first refused update's message.
FAILED_FOR_ALL = "The update failed for all features since the following feature had an error: "


def _updates(version: int, request: dict) -> list[FeatureUpdate]:
    return [
        FeatureUpdate(u["feature"], u["max_version_level"], u["upgrade_type"] if version >= 1 else UPGRADE)
        for u in request["feature_updates"]
    ]


@handler(57, 0, 2, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_update_features(ctx: RequestContext, request: dict) -> dict | None:
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    try:
        ctx.broker.features.update(_updates(ctx.version, request), bool(request.get("validate_only")))
    except KafkaError as exc:
        return {"error_code": exc.code, "error_message": FAILED_FOR_ALL + exc.message, "results": []}
    results = [
        {"feature": u["feature"], "error_code": ErrorCode.NONE, "error_message": ErrorCode.NONE.name}
        for u in request["feature_updates"]
    ]
    return {"error_code": ErrorCode.NONE, "error_message": None, "results": results}

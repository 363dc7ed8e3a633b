"""DescribeUserScramCredentials (key 50), version 0: users' SCRAM mechanisms and iteration counts.

v0: flexible. Null or empty ``users`` describes every user with a credential. As Kafka 4.3.1 (checked
with compat_tests/reference_kafka.py): a user without credentials is RESOURCE_NOT_FOUND, a user named
twice DUPLICATE_RESOURCE (one result); salts and keys are never sent. Kafka orders results by hash;
kafkapy keeps the request's order (every user in name order).
"""

from __future__ import annotations

from collections import Counter

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode

# Kafka's ScramImage messages.
NOT_FOUND = "Attempt to describe a user credential that does not exist: "
DUPLICATE = "Cannot describe SCRAM credentials for the same user twice in a single request: "


@handler(50, 0, 0, acl=((ResourceType.CLUSTER, AclOperation.DESCRIBE),))
async def handle_describe_user_scram_credentials(ctx: RequestContext, request: dict) -> dict | None:
    if not ctx.authorize(AclOperation.DESCRIBE, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    store = ctx.broker.scram_credentials
    names = [user["name"] for user in request["users"] or ()] or store.users()
    results = []
    for name, count in Counter(names).items():
        infos = [{"mechanism": m.type, "iterations": c.iterations} for m, c in store.mechanisms(name)]
        if count > 1:
            results.append(_error(name, ErrorCode.DUPLICATE_RESOURCE, DUPLICATE + name))
        elif not infos:
            results.append(_error(name, ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND + name))
        else:
            # Kafka's generated default for these nullable messages is "", which its answers carry.
            results.append({"user": name, "error_message": "", "credential_infos": infos})
    return {"error_message": "", "results": results}


def _error(user: str, code: ErrorCode, message: str) -> dict:
    return {"user": user, "error_code": code, "error_message": message}

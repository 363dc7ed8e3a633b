"""DeleteTopics (key 20), versions 0-6: deletes topics, their data and their committed offsets.

v0: topics by name.  v1: throttle time.  v2-v3: same as v1.  v4: flexible.  v5: error messages.
v6: topics by name or by topic id.
DELETE on each topic, or on the cluster for all of them, as Kafka's controller decides.
A deleted topic's name is free at once (its directories are renamed, then removed after
file.delete.delay.ms) and a re-created topic gets a new topic id.
Internal topics may be deleted, as in Kafka 4.3.1; the coordinators keep their groups and
transactions and write them into a new topic at once (only if they hold any), so nothing they
acknowledged is lost at the next start.
"""

from __future__ import annotations

import uuid

from kafkapy.acl import DENIED_MESSAGE, AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.apis._common import resolve_topic
from kafkapy.coordinator.internal_topics import OFFSETS_TOPIC, TRANSACTION_STATE_TOPIC
from kafkapy.protocol.common import ZERO_UUID
from kafkapy.protocol.errors import ErrorCode, KafkaError

_DENIED = DENIED_MESSAGE[ResourceType.TOPIC]


def _delete(ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None, every_topic: bool) -> dict:
    logs = ctx.broker.logs
    entry: dict = {"name": name, "topic_id": topic_id or ZERO_UUID, "error_code": ErrorCode.NONE}
    if name is None:
        state, error = resolve_topic(ctx, None, topic_id, AclOperation.DESCRIBE)
        if state is None:
            message = f"Topic id {topic_id} not found." if error == ErrorCode.UNKNOWN_TOPIC_ID else _DENIED
            entry.update(error_code=error, error_message=message)
            return entry
        name = state.name
    elif topic_id not in (None, ZERO_UUID):
        entry.update(error_code=ErrorCode.INVALID_REQUEST, error_message="Only one of name or topic id may be set.")
        return entry
    if not every_topic and not ctx.authorize(AclOperation.DELETE, ResourceType.TOPIC, name):
        entry.update(error_code=ErrorCode.TOPIC_AUTHORIZATION_FAILED, error_message=_DENIED)
        return entry
    try:
        state = logs.delete_topic(name)
    except KafkaError as exc:
        entry.update(error_code=exc.code, error_message="This server does not host this topic-partition.")
        return entry
    ctx.broker.groups.delete_topic_offsets([name])
    ctx.broker.cleaner.forget(name)
    if name == OFFSETS_TOPIC:
        ctx.broker.groups.rewrite_offsets_topic()
        ctx.broker.consumer_groups.rewrite_offsets_topic()
    elif name == TRANSACTION_STATE_TOPIC:
        ctx.broker.transactions.rewrite_state_topic()
    entry.update(name=name, topic_id=state.topic_id)
    return entry


@handler(
    20, 0, 6,
    acl=(
        (ResourceType.CLUSTER, AclOperation.DELETE),
        (ResourceType.TOPIC, AclOperation.DESCRIBE),
        (ResourceType.TOPIC, AclOperation.DELETE),
    ),
)
async def handle_delete_topics(ctx: RequestContext, request: dict) -> dict:
    # DELETE on the cluster lets a principal delete every topic (Kafka's ControllerApis.deleteTopics).
    every_topic = ctx.authorize(AclOperation.DELETE, ResourceType.CLUSTER)
    if ctx.version >= 6:
        wanted = [(t.get("name"), t.get("topic_id")) for t in request["topics"]]
    else:
        wanted = [(name, None) for name in request["topic_names"]]
    return {"responses": [_delete(ctx, name, topic_id, every_topic) for name, topic_id in wanted]}

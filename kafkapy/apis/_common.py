"""What several handlers share: finding the topic a request names, by name or by topic id; the ACL
APIs' checks before they touch the ACLs, and their filters; the log directory's path.

Not a handler module (no ``@handler``); discovery imports it like the others.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import CloseConnection
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.authorizer import AclBindingFilter, PatternType, PermissionType

if TYPE_CHECKING:
    from kafkapy.apis import RequestContext
    from kafkapy.storage.log_manager import TopicState


def find_topic(ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None) -> TopicState | None:
    """The topic a request names: by name, or by id in the versions that send ids (a null name)."""
    if name is None:
        return ctx.broker.logs.topic_by_id(topic_id) if topic_id is not None else None
    return ctx.broker.logs.topics.get(name)


def resolve_topic(
    ctx: RequestContext, name: str | None, topic_id: uuid.UUID | None, operation: AclOperation
) -> tuple[TopicState | None, ErrorCode]:
    """The topic a request names, if the principal may do ``operation`` on it, and the error for its
    partitions otherwise. As in Kafka: an unknown id is UNKNOWN_TOPIC_ID (there is no name to
    authorize); a name is authorized first, known topic or not (TOPIC_AUTHORIZATION_FAILED), and only
    then UNKNOWN_TOPIC_OR_PARTITION."""
    state = find_topic(ctx, name, topic_id)
    if name is None:
        if state is None:
            return None, ErrorCode.UNKNOWN_TOPIC_ID
        name = state.name
    if not ctx.authorize(operation, ResourceType.TOPIC, name):
        return None, ErrorCode.TOPIC_AUTHORIZATION_FAILED
    return state, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if state is None else ErrorCode.NONE


def may_create_topic(ctx: RequestContext, name: str) -> bool:
    """Kafka creates a topic for a principal with CREATE on the cluster or on the topic."""
    return ctx.authorize(AclOperation.CREATE, ResourceType.CLUSTER) or ctx.authorize(
        AclOperation.CREATE, ResourceType.TOPIC, name
    )


# Kafka's code 0 (UNKNOWN) for a resource type, pattern type, operation or permission type.
_UNKNOWN = 0


def refuse_unknown_acl_elements(entries: list[dict], fields: tuple[str, ...]) -> None:
    """Close the connection when an ACL filter or creation holds an UNKNOWN (0) element, as Kafka's
    request parser does (its AclBinding and AclBindingFilter reject them: checked on Kafka 4.3.1)."""
    if any(entry[name] == _UNKNOWN for entry in entries for name in fields):
        raise CloseConnection("ACL with an UNKNOWN element")


def refuse_acl_request(ctx: RequestContext, operation: AclOperation, message: str) -> dict | None:
    """The ACL APIs' answer before they touch the ACLs (Kafka's AclApis), or None to go on: the
    principal must be allowed ``operation`` on the cluster, and without an authorizer every error
    field is SECURITY_DISABLED."""
    if not ctx.authorize(operation, ResourceType.CLUSTER):
        return ctx.error_response(ErrorCode.CLUSTER_AUTHORIZATION_FAILED)
    if ctx.broker.acls is None:
        return ctx.error_response(ErrorCode.SECURITY_DISABLED, message)
    return None


def acl_filter(entry: dict) -> AclBindingFilter:
    """A DescribeAcls or DeleteAcls filter as Kafka's AclBindingFilter."""
    return AclBindingFilter(
        ResourceType(entry["resource_type_filter"]),
        entry["resource_name_filter"],
        PatternType(entry["pattern_type_filter"]),
        entry["principal_filter"],
        entry["host_filter"],
        AclOperation(entry["operation"]),
        PermissionType(entry["permission_type"]),
    )


def log_dir_path(ctx: RequestContext) -> str:
    """The one log directory (the data dir) as DescribeLogDirs names it and AlterReplicaLogDirs matches it."""
    return os.path.abspath(ctx.broker.logs.data_dir)

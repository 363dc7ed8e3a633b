"""Kafka's authorization vocabulary: AclOperation, ResourceType and the authorizer a request asks.

The numeric codes are Kafka's own (org.apache.kafka.common.acl.AclOperation and
org.apache.kafka.common.resource.ResourceType), since DescribeAcls and authorized-operations bit
fields carry them on the wire. Every handler asks the broker's authorizer, once per resource it
touches, as Kafka's KafkaApis does: without authorizer.class.name it allows everything, with it the
StandardAuthorizer (kafkapy/security/authorizer.py) applies the ACLs.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Protocol

from kafkapy.protocol.errors import ErrorCode

if TYPE_CHECKING:
    from kafkapy.apis import RequestContext


class AclOperation(IntEnum):
    UNKNOWN = 0
    ANY = 1
    ALL = 2
    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12
    CREATE_TOKENS = 13
    DESCRIBE_TOKENS = 14
    TWO_PHASE_COMMIT = 15


class ResourceType(IntEnum):
    UNKNOWN = 0
    ANY = 1
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4
    TRANSACTIONAL_ID = 5
    DELEGATION_TOKEN = 6
    USER = 7


# Kafka's cluster resource has one name.
CLUSTER_NAME = "kafka-cluster"

# The error a denied request gets, by the resource denied (Kafka's *AuthorizationException codes).
DENIED = {
    ResourceType.TOPIC: ErrorCode.TOPIC_AUTHORIZATION_FAILED,
    ResourceType.GROUP: ErrorCode.GROUP_AUTHORIZATION_FAILED,
    ResourceType.CLUSTER: ErrorCode.CLUSTER_AUTHORIZATION_FAILED,
    ResourceType.TRANSACTIONAL_ID: ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    ResourceType.DELEGATION_TOKEN: ErrorCode.DELEGATION_TOKEN_AUTHORIZATION_FAILED,
}


# Kafka's messages for those errors (Errors.*.message()), sent where Kafka sends them.
DENIED_MESSAGE = {
    ResourceType.TOPIC: "Topic authorization failed.",
    ResourceType.GROUP: "Group authorization failed.",
    ResourceType.CLUSTER: "Cluster authorization failed.",
    ResourceType.TRANSACTIONAL_ID: "Transactional Id authorization failed.",
    ResourceType.DELEGATION_TOKEN: "Delegation Token authorization failed.",
}


class Authorizer(Protocol):
    """Kafka's Authorizer.authorize for one action: may ``ctx``'s principal do ``operation`` on the resource?"""

    def __call__(
        self, ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str
    ) -> bool: ...


def allow_everything(ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
    """The authorizer of a broker without ACLs (Kafka without authorizer.class.name)."""
    return True


# The operations each resource type has (Kafka 4.3.1's AclEntry.supportedOperations): the bits an
# authorized_operations field can hold, checked against Kafka's answers to a super user.
SUPPORTED_OPERATIONS = {
    ResourceType.TOPIC: (
        AclOperation.READ,
        AclOperation.WRITE,
        AclOperation.CREATE,
        AclOperation.DESCRIBE,
        AclOperation.DELETE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    ),
    ResourceType.GROUP: (
        AclOperation.READ,
        AclOperation.DESCRIBE,
        AclOperation.DELETE,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
    ),
    ResourceType.CLUSTER: (
        AclOperation.CREATE,
        AclOperation.CLUSTER_ACTION,
        AclOperation.DESCRIBE_CONFIGS,
        AclOperation.ALTER_CONFIGS,
        AclOperation.IDEMPOTENT_WRITE,
        AclOperation.ALTER,
        AclOperation.DESCRIBE,
    ),
    ResourceType.TRANSACTIONAL_ID: (AclOperation.DESCRIBE, AclOperation.WRITE, AclOperation.TWO_PHASE_COMMIT),
}
# An authorized_operations field the request did not ask for (Kafka's Integer.MIN_VALUE).
OPERATIONS_NOT_REQUESTED = -(2**31)


def authorized_operations(
    ctx: RequestContext, resource_type: ResourceType, name: str = CLUSTER_NAME, requested: bool = True
) -> int:
    """Kafka's authorized_operations bit field (AuthHelper.authorizedOperations): bit ``op`` set for each
    operation of the resource type the principal is allowed; OPERATIONS_NOT_REQUESTED unless
    ``requested``, and 0 to a principal who may not DESCRIBE the resource (Kafka 4.3.1 answers a
    DescribeCluster so, rather than refusing it)."""
    if not requested:
        return OPERATIONS_NOT_REQUESTED
    if not ctx.authorize(AclOperation.DESCRIBE, resource_type, name):
        return 0
    bits = 0
    for operation in SUPPORTED_OPERATIONS[resource_type]:
        if ctx.authorize(operation, resource_type, name):
            bits |= 1 << operation
    return bits

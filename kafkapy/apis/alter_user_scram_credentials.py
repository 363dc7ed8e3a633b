"""AlterUserScramCredentials (key 51), version 0: upserts and deletes users' SCRAM credentials.

v0: flexible. The client sends the salted password (never the password); the broker keeps the salt,
iterations, stored key and server key (kafkapy/security/scram_credentials.py), persisted before the
answer. Checked as Kafka 4.3.1's ScramControlManager (every case run on compat_tests/reference_kafka.py):
one result per user; a user named twice in one request (twice deleted, deleted and upserted, twice
upserted, whatever the mechanisms) is DUPLICATE_RESOURCE and nothing of it changes; an empty name is
UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM, iterations outside
4096-16384 UNACCEPTABLE_CREDENTIAL, deleting a credential the user lacks RESOURCE_NOT_FOUND, and an
empty salted password UNKNOWN_SERVER_ERROR (Kafka's HMAC refuses an empty key). The other users'
changes still apply.
"""

from __future__ import annotations

from kafkapy.acl import AclOperation, ResourceType
from kafkapy.apis import RequestContext, handler
from kafkapy.protocol.errors import ErrorCode
from kafkapy.security.scram_credentials import MECHANISM_BY_TYPE, ScramCredential, ScramCredentialStore, ScramMechanism

# Kafka's ScramControlManager messages.
DUPLICATE = "A user credential cannot be altered twice in the same request"
EMPTY_USER = "Username must not be empty"
UNKNOWN_MECHANISM = "Unknown SCRAM mechanism"
TOO_FEW = "Too few iterations"
TOO_MANY = "Too many iterations"
NOT_FOUND = "Attempt to delete a user credential that does not exist"

Error = tuple[ErrorCode, str | None]


@handler(51, 0, 0, acl=((ResourceType.CLUSTER, AclOperation.ALTER),))
async def handle_alter_user_scram_credentials(ctx: RequestContext, request: dict) -> dict:
    deletions, upsertions = request["deletions"], request["upsertions"]
    if not ctx.authorize(AclOperation.ALTER, ResourceType.CLUSTER):
        # Kafka's getErrorResponse: every user named, once, in name order.
        users = sorted({entry["name"] for entry in (*deletions, *upsertions)})
        return {"results": [_result(user, (ErrorCode.CLUSTER_AUTHORIZATION_FAILED, None)) for user in users]}
    store = ctx.broker.scram_credentials
    errors: dict[str, Error] = {}
    deleted: dict[str, tuple[str, str]] = {}
    upserted: dict[str, tuple[tuple[str, str], ScramCredential]] = {}
    for deletion in deletions:
        name = deletion["name"]
        if name in errors:
            continue
        if deleted.pop(name, None) is not None:
            errors[name] = (ErrorCode.DUPLICATE_RESOURCE, DUPLICATE)
        elif (error := _deletion_error(store, deletion)) is not None:
            errors[name] = error
        else:
            deleted[name] = (name, MECHANISM_BY_TYPE[deletion["mechanism"]].name)
    for upsertion in upsertions:
        name = upsertion["name"]
        if name in errors:
            continue
        if deleted.pop(name, None) is not None or upserted.pop(name, None) is not None:
            errors[name] = (ErrorCode.DUPLICATE_RESOURCE, DUPLICATE)
        elif (error := _upsertion_error(upsertion)) is not None:
            errors[name] = error
        else:
            upserted[name] = _credential(upsertion)
    store.alter(dict(upserted.values()), set(deleted.values()))
    users = dict.fromkeys(entry["name"] for entry in (*deletions, *upsertions))
    return {"results": [_result(user, errors.get(user, (ErrorCode.NONE, None))) for user in users]}


def _result(user: str, error: Error) -> dict:
    return {"user": user, "error_code": error[0], "error_message": error[1]}


def _name_and_mechanism_error(entry: dict) -> Error | None:
    """Kafka's validateScramUsernameAndMechanism (the name first, as Kafka 4.3.1 answers)."""
    if not entry["name"]:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, EMPTY_USER
    if entry["mechanism"] not in MECHANISM_BY_TYPE:
        return ErrorCode.UNSUPPORTED_SASL_MECHANISM, UNKNOWN_MECHANISM
    return None


def _deletion_error(store: ScramCredentialStore, deletion: dict) -> Error | None:
    error = _name_and_mechanism_error(deletion)
    if error is None and store.get(deletion["name"], MECHANISM_BY_TYPE[deletion["mechanism"]].name) is None:
        return ErrorCode.RESOURCE_NOT_FOUND, NOT_FOUND
    return error


def _upsertion_error(upsertion: dict) -> Error | None:
    error = _name_and_mechanism_error(upsertion)
    if error is not None:
        return error
    mechanism: ScramMechanism = MECHANISM_BY_TYPE[upsertion["mechanism"]]
    if upsertion["iterations"] < mechanism.min_iterations:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, TOO_FEW
    if upsertion["iterations"] > mechanism.max_iterations:
        return ErrorCode.UNACCEPTABLE_CREDENTIAL, TOO_MANY
    if not upsertion["salted_password"]:
        # Kafka's answer: its Mac.init throws on an empty key, an UNKNOWN_SERVER_ERROR without a message.
        return ErrorCode.UNKNOWN_SERVER_ERROR, None
    return None


def _credential(upsertion: dict) -> tuple[tuple[str, str], ScramCredential]:
    mechanism = MECHANISM_BY_TYPE[upsertion["mechanism"]]
    salt, salted_password = bytes(upsertion["salt"]), bytes(upsertion["salted_password"])
    credential = mechanism.credential(salt, salted_password, upsertion["iterations"])
    return (upsertion["name"], mechanism.name), credential

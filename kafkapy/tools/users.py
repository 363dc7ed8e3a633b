"""``kafkapy users ...``: SCRAM users, as ``kafka-configs.sh --entity-type users`` manages them.

``add`` salts the password here (a random salt, Hi() of RFC 5802) and sends only the salted password
(AlterUserScramCredentials), as Kafka's admin clients do; ``list`` prints what
DescribeUserScramCredentials says, in kafka-configs.sh --describe's words. The broker allows one
change per user per request, so each mechanism is its own request.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.protocol.specs import ApiKey
from kafkapy.security.scram_credentials import MECHANISM_BY_TYPE, SALT_BYTES, SCRAM_MECHANISMS


def add_parser(sub: argparse._SubParsersAction, with_bootstrap: Callable) -> None:
    users = sub.add_parser("users", help="list, add or delete SCRAM users").add_subparsers(dest="action", required=True)
    with_bootstrap(users.add_parser("list", help="every SCRAM user with mechanisms and iterations"), users_list)
    p = users.add_parser("add", help="create or update a user's SCRAM credentials")
    p.add_argument("user", help="the user's name")
    p.add_argument("--password", required=True, help="the password (only its salted form is sent)")
    _mechanism_argument(p)
    p.add_argument(
        "--iterations", type=int, default=4096, help="PBKDF2 iterations, 4096-16384 (default 4096, Kafka's)"
    )
    with_bootstrap(p, users_add)
    p = users.add_parser("delete", help="delete a user's SCRAM credentials")
    p.add_argument("user", help="the user's name")
    _mechanism_argument(p)
    with_bootstrap(p, users_delete)


def _mechanism_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mechanism",
        action="append",
        choices=list(SCRAM_MECHANISMS),
        help="SCRAM-SHA-256 or SCRAM-SHA-512 (repeatable; default both)",
    )


def users_list(client: WireClient, args: argparse.Namespace) -> None:
    for user, infos in sorted(_describe(client, None).items()):
        configs = ", ".join(f"{MECHANISM_BY_TYPE[c.mechanism].name}=iterations={c.iterations}" for c in infos)
        print(f"SCRAM credential configs for user-principal '{user}' are {configs}")


def users_add(client: WireClient, args: argparse.Namespace) -> None:
    for name in args.mechanism or SCRAM_MECHANISMS:
        mechanism = SCRAM_MECHANISMS[name]
        salt = secrets.token_bytes(SALT_BYTES)
        salted = mechanism.salted_password(args.password, salt, args.iterations)
        upsertion = {
            "name": args.user,
            "mechanism": mechanism.type,
            "iterations": args.iterations,
            "salt": salt,
            "salted_password": salted,
        }
        _alter(client, {"deletions": [], "upsertions": [upsertion]})
    print(f"Completed updating config for user {args.user}.")


def users_delete(client: WireClient, args: argparse.Namespace) -> None:
    """Delete the named mechanisms, or every one the user has."""
    names = args.mechanism or [MECHANISM_BY_TYPE[c.mechanism].name for c in _describe(client, args.user)[args.user]]
    for name in names:
        _alter(client, {"deletions": [{"name": args.user, "mechanism": SCRAM_MECHANISMS[name].type}], "upsertions": []})
    print(f"Completed updating config for user {args.user}.")


def _describe(client: WireClient, user: str | None) -> dict[str, list]:
    body = {"users": None if user is None else [{"name": user}]}
    response = client.request(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, body)
    _check(response.error_code, response.error_message)
    for result in response.results:
        _check(result.error_code, result.error_message)
    return {result.user: list(result.credential_infos) for result in response.results}


def _alter(client: WireClient, body: dict) -> None:
    for result in client.request(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, 0, body).results:
        _check(result.error_code, result.error_message)


def _check(code: int, message: str | None) -> None:
    if code != ErrorCode.NONE:
        raise KafkaError(ErrorCode(code), message)

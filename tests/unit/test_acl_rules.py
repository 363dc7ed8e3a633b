"""The StandardAuthorizer's rules, table-driven: which ACLs allow which action (Kafka's
StandardAuthorizerData), the filters of DescribeAcls/DeleteAcls, and the ACL file across restarts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from kafkapy.acl import CLUSTER_NAME, AclOperation, ResourceType
from kafkapy.security.authorizer import (
    FILE_NAME,
    AclBinding,
    AclBindingFilter,
    PatternType,
    PermissionType,
    StandardAuthorizer,
)
from kafkapy.storage.fs import DISK, file_system

Op, RT, PT, Perm = AclOperation, ResourceType, PatternType, PermissionType
ALICE, BOB = "User:alice", "User:bob"
HOST, OTHER_HOST = "10.0.0.1", "10.0.0.2"


def acl(
    name: str = "orders",
    op: AclOperation = Op.READ,
    perm: PermissionType = Perm.ALLOW,
    *,
    rtype: ResourceType = RT.TOPIC,
    pattern: PatternType = PT.LITERAL,
    principal: str = ALICE,
    host: str = "*",
) -> AclBinding:
    return AclBinding(rtype, name, pattern, principal, host, op, perm)


def authorizer(acls: list[AclBinding], **options: object) -> StandardAuthorizer:
    fs = file_system("memory")
    fs.makedirs(Path("/data"))
    store = StandardAuthorizer(Path("/data"), fs, **options)  # type: ignore[arg-type]
    store.create(acls)
    return store


# (ACLs, principal, host, operation, resource type, name, allowed?)
CASES = [
    ("no ACL at all", [], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    ("literal allow", [acl()], ALICE, HOST, Op.READ, RT.TOPIC, "orders", True),
    ("another principal", [acl()], BOB, HOST, Op.READ, RT.TOPIC, "orders", False),
    ("another operation", [acl()], ALICE, HOST, Op.WRITE, RT.TOPIC, "orders", False),
    ("another resource type", [acl()], ALICE, HOST, Op.READ, RT.GROUP, "orders", False),
    ("another name", [acl()], ALICE, HOST, Op.READ, RT.TOPIC, "orders2", False),
    ("wildcard name", [acl("*")], ALICE, HOST, Op.READ, RT.TOPIC, "anything", True),
    ("wildcard principal", [acl(principal="User:*")], BOB, HOST, Op.READ, RT.TOPIC, "orders", True),
    ("host matches", [acl(host=HOST)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", True),
    ("host differs", [acl(host=HOST)], ALICE, OTHER_HOST, Op.READ, RT.TOPIC, "orders", False),
    ("prefix", [acl("ord", pattern=PT.PREFIXED)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", True),
    ("not the prefix", [acl("ord", pattern=PT.PREFIXED)], ALICE, HOST, Op.READ, RT.TOPIC, "or", False),
    ("literal is no prefix", [acl("ord")], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    ("prefix * is literal text", [acl("*", pattern=PT.PREFIXED)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    ("ALL allows anything", [acl(op=Op.ALL)], ALICE, HOST, Op.ALTER_CONFIGS, RT.TOPIC, "orders", True),
    ("READ implies DESCRIBE", [acl()], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", True),
    ("WRITE implies DESCRIBE", [acl(op=Op.WRITE)], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", True),
    ("DELETE implies DESCRIBE", [acl(op=Op.DELETE)], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", True),
    ("ALTER implies DESCRIBE", [acl(op=Op.ALTER)], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", True),
    ("CREATE does not", [acl(op=Op.CREATE)], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", False),
    ("DESCRIBE implies no READ", [acl(op=Op.DESCRIBE)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    (
        "ALTER_CONFIGS implies DESCRIBE_CONFIGS",
        [acl(op=Op.ALTER_CONFIGS)], ALICE, HOST, Op.DESCRIBE_CONFIGS, RT.TOPIC, "orders", True,
    ),
    ("deny wins", [acl(), acl(perm=Perm.DENY)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    ("wildcard deny wins", [acl(), acl("*", perm=Perm.DENY)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    (
        "prefixed deny wins",
        [acl(), acl("o", perm=Perm.DENY, pattern=PT.PREFIXED)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False,
    ),
    (
        "deny of all principals wins",
        [acl(), acl(perm=Perm.DENY, principal="User:*")], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False,
    ),
    ("deny ALL wins", [acl(), acl(op=Op.ALL, perm=Perm.DENY)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
    (
        "deny from another host leaves the allow",
        [acl(), acl(perm=Perm.DENY, host=OTHER_HOST)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", True,
    ),
    (
        "a deny of READ does not deny DESCRIBE",
        [acl(op=Op.WRITE), acl(perm=Perm.DENY)], ALICE, HOST, Op.DESCRIBE, RT.TOPIC, "orders", True,
    ),
    ("deny of another principal", [acl(), acl(perm=Perm.DENY, principal=BOB)], ALICE, HOST, Op.READ, RT.TOPIC,
     "orders", True),
    ("cluster", [acl(CLUSTER_NAME, Op.ALTER, rtype=RT.CLUSTER)], ALICE, HOST, Op.ALTER, RT.CLUSTER, CLUSTER_NAME,
     True),
    ("a group ACL is no topic ACL", [acl(rtype=RT.GROUP)], ALICE, HOST, Op.READ, RT.TOPIC, "orders", False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("acls", "principal", "host", "operation", "resource_type", "name", "allowed"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_authorize(
    acls: list[AclBinding],
    principal: str,
    host: str,
    operation: AclOperation,
    resource_type: ResourceType,
    name: str,
    allowed: bool,
) -> None:
    assert authorizer(acls).authorize(principal, host, operation, resource_type, name) is allowed


def test_super_users_are_allowed_even_what_an_acl_denies() -> None:
    store = authorizer([acl(op=Op.ALL, perm=Perm.DENY, principal="User:*")], super_users=["User:admin"])
    assert store.authorize("User:admin", HOST, Op.DELETE, RT.TOPIC, "orders")
    assert not store.authorize(ALICE, HOST, Op.DELETE, RT.TOPIC, "orders")


@pytest.mark.parametrize(
    ("acls", "allowed"),
    [([], True), ([acl("other")], True), ([acl(principal=BOB)], False), ([acl("o", pattern=PT.PREFIXED)], True)],
    ids=["no-acl", "acl-on-another-resource", "acl-for-another-principal", "matching-allow"],
)
def test_allow_everyone_if_no_acl_found_applies_to_resources_no_acl_names(
    acls: list[AclBinding], allowed: bool
) -> None:
    """An ACL on the resource, for whoever, takes the resource out of allow.everyone.if.no.acl.found."""
    store = authorizer(acls, allow_everyone_if_no_acl_found=True)
    assert store.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "orders") is allowed


def _ctx(principal: str) -> SimpleNamespace:
    return SimpleNamespace(principal=principal, client_host=HOST)


@pytest.mark.parametrize(
    ("acls", "allowed"),
    [
        ([], False),
        ([acl("orders", Op.WRITE)], True),
        ([acl("or", Op.WRITE, pattern=PT.PREFIXED)], True),
        ([acl("orders", Op.WRITE), acl("orders", Op.WRITE, Perm.DENY)], False),
        ([acl("orders", Op.WRITE), acl("o", Op.WRITE, Perm.DENY, pattern=PT.PREFIXED)], False),
        ([acl("orders", Op.WRITE), acl("*", Op.WRITE, Perm.DENY)], False),
        ([acl("orders", Op.WRITE), acl("payments", Op.WRITE, Perm.DENY)], True),
        ([acl("orders", Op.READ)], False),
    ],
    ids=["none", "literal", "prefixed", "denied-literal", "denied-prefix", "denied-wildcard", "other-denied", "read"],
)
def test_authorize_by_resource_type(acls: list[AclBinding], allowed: bool) -> None:
    """WRITE on some topic (an idempotent producer's InitProducerId): Kafka's authorizeByResourceType."""
    store = authorizer(acls)
    assert store.authorize_by_resource_type(_ctx(ALICE), Op.WRITE, RT.TOPIC) is allowed  # type: ignore[arg-type]


def _filter(**fields: object) -> AclBindingFilter:
    base: dict = {
        "resource_type": RT.ANY,
        "resource_name": None,
        "pattern_type": PT.ANY,
        "principal": None,
        "host": None,
        "operation": Op.ANY,
        "permission_type": Perm.ANY,
    }
    return AclBindingFilter(**{**base, **fields})


STORED = [
    acl("orders"),
    acl("*", Op.WRITE),
    acl("ord", pattern=PT.PREFIXED, principal=BOB),
    acl("orders", rtype=RT.GROUP, perm=Perm.DENY, host=HOST),
]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, [0, 1, 2, 3]),
        ({"resource_type": RT.TOPIC}, [0, 1, 2]),
        ({"resource_name": "orders"}, [0, 3]),
        ({"resource_name": "orders", "pattern_type": PT.LITERAL}, [0, 3]),
        ({"resource_name": "orders", "pattern_type": PT.MATCH}, [0, 1, 2, 3]),
        ({"resource_name": "orders", "pattern_type": PT.MATCH, "resource_type": RT.TOPIC}, [0, 1, 2]),
        ({"resource_name": "ord", "pattern_type": PT.MATCH}, [1, 2]),
        ({"pattern_type": PT.PREFIXED}, [2]),
        ({"principal": BOB}, [2]),
        ({"host": HOST}, [3]),
        ({"operation": Op.WRITE}, [1]),
        ({"permission_type": Perm.DENY}, [3]),
    ],
)
def test_filters(fields: dict, expected: list[int]) -> None:
    """AclBindingFilter.matches: ANY and None match all; MATCH finds the patterns that cover a name."""
    assert authorizer(STORED).describe(_filter(**fields)) == [STORED[i] for i in expected]


def test_delete_answers_each_filters_matches_and_removes_them() -> None:
    store = authorizer(STORED)
    removed = store.delete([_filter(resource_type=RT.TOPIC), _filter(resource_name="orders")])
    assert removed == [STORED[:3], [STORED[0], STORED[3]]]
    assert store.acls == []


def test_acls_survive_a_restart_and_a_damaged_file_is_set_aside(tmp_path: Path) -> None:
    store = StandardAuthorizer(tmp_path, DISK)
    store.create(STORED)
    store.delete([_filter(permission_type=Perm.DENY)])
    assert StandardAuthorizer(tmp_path, DISK).acls == STORED[:3]
    (tmp_path / FILE_NAME).write_text('{"version": 1, "acls": [{"resource_type": 2')
    assert StandardAuthorizer(tmp_path, DISK).acls == []
    assert (tmp_path / (FILE_NAME + ".damaged")).exists()
    assert not (tmp_path / FILE_NAME).exists()


class _FullDisk(type(file_system("memory"))):  # type: ignore[misc]
    """A file system whose writes fail, as on a full disk."""

    def write_atomic(self, path: Path, data: bytes, *, sync: bool = True) -> None:
        raise OSError(28, "No space left on device")


def test_a_change_that_cannot_be_stored_is_not_made() -> None:
    fs = _FullDisk()
    fs.makedirs(Path("/data"))
    store = StandardAuthorizer(Path("/data"), fs)
    with pytest.raises(OSError):
        store.create([acl()])
    assert store.acls == [] and not store.authorize(ALICE, HOST, Op.READ, RT.TOPIC, "orders")

"""Kafka's StandardAuthorizer: the ACL store and its authorize rules.

An ACL (Kafka's AclBinding) says a principal, from a host, is allowed or denied an operation on a
resource pattern: a resource type and a name, LITERAL (``*`` for every name) or PREFIXED. The rules
are StandardAuthorizerData's: super users may do everything; otherwise every ACL whose pattern matches
the resource is consulted, and one DENY that matches the principal (or ``User:*``), the host (or
``*``) and the operation (or ALL) wins over any ALLOW; an ALLOW of READ, WRITE, DELETE or ALTER also
allows DESCRIBE, and ALTER_CONFIGS allows DESCRIBE_CONFIGS. A resource no ACL names at all is allowed
only with ``allow.everyone.if.no.acl.found``.

The ACLs live in ``acls.json`` in the data dir, replaced whole (write, fsync, rename) on each change,
in the broker's storage file system (``--storage memory``: in memory only). A damaged file is logged
and set aside; the broker starts with no ACLs, which denies everyone but super users (fail closed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING

from kafkapy.acl import CLUSTER_NAME, AclOperation, ResourceType
from kafkapy.storage.fs import FileSystem

if TYPE_CHECKING:
    from kafkapy.apis import RequestContext
    from kafkapy.broker_config import BrokerConfig

log = logging.getLogger("kafkapy.security")

# Kafka's class names for authorizer.class.name.
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# The ZooKeeper-era authorizer, removed in Kafka 4.0 with ZooKeeper.
ACL_AUTHORIZER = "kafka.security.authorizer.AclAuthorizer"
FILE_NAME = "acls.json"
FILE_VERSION = 1
WILDCARD = "*"
WILDCARD_PRINCIPAL = "User:*"
# What authorize_by_resource_type asks about, as Kafka's Authorizer.authorizeByResourceType does: a
# name no ACL is likely to name, so only super users and allow.everyone.if.no.acl.found pass it.
_HARDCODED_NAME = "hardcode"


class PatternType(IntEnum):
    """Kafka's org.apache.kafka.common.resource.PatternType; ANY and MATCH only in filters."""

    UNKNOWN = 0
    ANY = 1
    MATCH = 2
    LITERAL = 3
    PREFIXED = 4


class PermissionType(IntEnum):
    """Kafka's AclPermissionType; ANY only in filters."""

    UNKNOWN = 0
    ANY = 1
    DENY = 2
    ALLOW = 3


# The operations an ALLOW of another operation also allows (StandardAuthorizerData.IMPLIES_*).
IMPLIED_BY = {
    AclOperation.DESCRIBE: frozenset(
        {AclOperation.DESCRIBE, AclOperation.READ, AclOperation.WRITE, AclOperation.DELETE, AclOperation.ALTER}
    ),
    AclOperation.DESCRIBE_CONFIGS: frozenset({AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}),
}

@dataclass(frozen=True, slots=True)
class AclBinding:
    """One ACL (Kafka's AclBinding): a resource pattern and an access control entry."""

    resource_type: ResourceType
    resource_name: str
    pattern_type: PatternType
    principal: str
    host: str
    operation: AclOperation
    permission_type: PermissionType

    def verdict(self, principal: str, host: str, operation: AclOperation) -> PermissionType | None:
        """ALLOW or DENY if this ACL speaks about the principal, host and operation; None if not
        (StandardAuthorizerData.findResult: implied operations only widen an ALLOW)."""
        if self.principal not in (principal, WILDCARD_PRINCIPAL) or self.host not in (host, WILDCARD):
            return None
        if self.operation != AclOperation.ALL:
            if self.permission_type == PermissionType.ALLOW:
                if self.operation not in IMPLIED_BY.get(operation, (operation,)):
                    return None
            elif self.operation != operation:
                return None
        return self.permission_type


@dataclass(frozen=True, slots=True)
class AclBindingFilter:
    """Kafka's AclBindingFilter: None, ANY (and MATCH for the pattern type) match anything."""

    resource_type: ResourceType
    resource_name: str | None
    pattern_type: PatternType
    principal: str | None
    host: str | None
    operation: AclOperation
    permission_type: PermissionType

    def matches(self, acl: AclBinding) -> bool:
        """ResourcePatternFilter.matches and AccessControlEntryFilter.matches, as Kafka defines them."""
        if self.resource_type not in (ResourceType.ANY, acl.resource_type):
            return False
        if self.pattern_type not in (PatternType.ANY, PatternType.MATCH, acl.pattern_type):
            return False
        if self.resource_name is not None:
            if self.pattern_type != PatternType.MATCH:
                if self.resource_name != acl.resource_name:
                    return False
            elif acl.pattern_type == PatternType.PREFIXED:
                if not self.resource_name.startswith(acl.resource_name):
                    return False
            elif acl.resource_name not in (self.resource_name, WILDCARD):
                return False
        return (
            self.principal in (None, acl.principal)
            and self.host in (None, acl.host)
            and self.operation in (AclOperation.ANY, acl.operation)
            and self.permission_type in (PermissionType.ANY, acl.permission_type)
        )


class StandardAuthorizer:
    """The ACLs and Kafka's authorize rules; the broker's ``authorizer`` when authorizer.class.name is
    the StandardAuthorizer."""

    def __init__(
        self,
        data_dir: Path,
        fs: FileSystem,
        *,
        super_users: Iterable[str] = (),
        allow_everyone_if_no_acl_found: bool = False,
    ) -> None:
        self._fs = fs
        self._path = data_dir / FILE_NAME
        self.super_users = frozenset(super_users)
        self.allow_everyone_if_no_acl_found = allow_everyone_if_no_acl_found
        # Insertion-ordered, so DescribeAcls lists them in the order they were created.
        self._acls: dict[AclBinding, None] = {}
        # What authorize reads: literal ACLs by (resource type, name), prefixed ones by resource type.
        self._literal: dict[tuple[ResourceType, str], list[AclBinding]] = {}
        self._prefixed: dict[ResourceType, list[AclBinding]] = {}
        self._index(dict.fromkeys(self._load()))

    def __call__(self, ctx: RequestContext, operation: AclOperation, resource_type: ResourceType, name: str) -> bool:
        return self.authorize(ctx.principal, ctx.client_host, operation, resource_type, name)

    @property
    def acls(self) -> list[AclBinding]:
        return list(self._acls)

    def authorize(
        self, principal: str, host: str, operation: AclOperation, resource_type: ResourceType, name: str
    ) -> bool:
        """StandardAuthorizerData.authorize for one action."""
        if principal in self.super_users:
            return True
        named = False
        allowed = False
        for acl in self._covering(resource_type, name):
            named = True
            verdict = acl.verdict(principal, host, operation)
            if verdict == PermissionType.DENY:
                return False
            allowed = allowed or verdict == PermissionType.ALLOW
        return allowed or (not named and self.allow_everyone_if_no_acl_found)

    def authorize_by_resource_type(
        self, ctx: RequestContext, operation: AclOperation, resource_type: ResourceType
    ) -> bool:
        """May the principal do ``operation`` on some resource of the type (Kafka's
        Authorizer.authorizeByResourceType): an ALLOW on a name or prefix that no DENY covers."""
        principal, host = ctx.principal, ctx.client_host
        if self.authorize(principal, host, operation, resource_type, _HARDCODED_NAME):
            return True
        relevant = [
            acl
            for acl in self._acls
            if acl.resource_type == resource_type and acl.verdict(principal, host, operation) is not None
        ]
        denied = [acl for acl in relevant if acl.permission_type == PermissionType.DENY]
        if any(acl.pattern_type == PatternType.LITERAL and acl.resource_name == WILDCARD for acl in denied):
            return False
        for acl in relevant:
            if acl.permission_type != PermissionType.ALLOW:
                continue
            if any(_deny_covers(deny, acl) for deny in denied):
                continue
            return True
        return False

    def _covering(self, resource_type: ResourceType, name: str) -> Iterator[AclBinding]:
        """The ACLs whose pattern covers the resource: its literal name, ``*``, its prefixes."""
        yield from self._literal.get((resource_type, name), ())
        if name != WILDCARD:
            yield from self._literal.get((resource_type, WILDCARD), ())
        for acl in self._prefixed.get(resource_type, ()):
            if name.startswith(acl.resource_name):
                yield acl

    def create(self, acls: Iterable[AclBinding], principal: str = "") -> None:
        """Add ACLs (one already there is not added twice), stored before this returns; ``principal``
        (who asked) is logged with them, as Kafka logs ACL changes."""
        added = [acl for acl in dict.fromkeys(acls) if acl not in self._acls]
        self._replace({**self._acls, **dict.fromkeys(added)})
        for acl in added:
            log.info("ACL created", extra={"acl": _describe(acl), "by": principal})

    def delete(self, filters: list[AclBindingFilter], principal: str = "") -> list[list[AclBinding]]:
        """Remove the ACLs each filter matches; the ACLs removed, per filter (one ACL that several
        filters match is listed under each, as Kafka does)."""
        matched = [[acl for acl in self._acls if f.matches(acl)] for f in filters]
        removed = {acl for acls in matched for acl in acls}
        if removed:
            self._replace({acl: None for acl in self._acls if acl not in removed})
        for acl in removed:
            log.info("ACL deleted", extra={"acl": _describe(acl), "by": principal})
        return matched

    def clear(self) -> None:
        """Delete every ACL (a broker reset)."""
        self._replace({})

    def describe(self, acl_filter: AclBindingFilter) -> list[AclBinding]:
        return [acl for acl in self._acls if acl_filter.matches(acl)]

    def _load(self) -> list[AclBinding]:
        """The stored ACLs; none without a file, and none (logged, file set aside) if it is damaged."""
        try:
            data = json.loads(self._fs.read_text(self._path))
            if data.get("version") != FILE_VERSION:
                raise ValueError(f"unknown version {data.get('version')!r}")
            return [_binding(entry) for entry in data["acls"]]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            damaged = self._path.with_name(self._path.name + ".damaged")
            log.error(
                "ACL file unreadable; set aside, starting with no ACLs (only super users are allowed)",
                extra={"path": str(self._path), "moved_to": str(damaged), "error": str(exc)},
            )
            self._fs.replace(self._path, damaged)
            return []

    def _replace(self, acls: dict[AclBinding, None]) -> None:
        """Store ``acls`` as the whole set, then use them: a failed write changes nothing."""
        stored = [{k: int(v) if isinstance(v, IntEnum) else v for k, v in asdict(acl).items()} for acl in acls]
        self._fs.write_text(self._path, json.dumps({"version": FILE_VERSION, "acls": stored}, indent=1) + "\n")
        self._index(acls)

    def _index(self, acls: dict[AclBinding, None]) -> None:
        self._acls = acls
        self._literal, self._prefixed = {}, {}
        for acl in acls:
            if acl.pattern_type == PatternType.PREFIXED:
                self._prefixed.setdefault(acl.resource_type, []).append(acl)
            else:
                self._literal.setdefault((acl.resource_type, acl.resource_name), []).append(acl)


def _binding(entry: dict) -> AclBinding:
    """An AclBinding from its stored form; ValueError if a field is not what it must be."""
    acl = AclBinding(
        ResourceType(entry["resource_type"]),
        str(entry["resource_name"]),
        PatternType(entry["pattern_type"]),
        str(entry["principal"]),
        str(entry["host"]),
        AclOperation(entry["operation"]),
        PermissionType(entry["permission_type"]),
    )
    if invalid_binding(acl):
        raise ValueError(f"invalid ACL {entry}")
    return acl


def _describe(acl: AclBinding) -> str:
    """An ACL in one line, in the words of Kafka's AclBinding.toString."""
    return (
        f"(pattern=ResourcePattern(resourceType={acl.resource_type.name}, name={acl.resource_name},"
        f" patternType={acl.pattern_type.name}), entry=(principal={acl.principal}, host={acl.host},"
        f" operation={acl.operation.name}, permissionType={acl.permission_type.name}))"
    )


def _deny_covers(deny: AclBinding, allow: AclBinding) -> bool:
    """Does a DENY pattern cover every name an ALLOW pattern does (authorizeByResourceType)?"""
    if deny.pattern_type == PatternType.LITERAL:
        return allow.pattern_type == PatternType.LITERAL and deny.resource_name == allow.resource_name
    return allow.resource_name.startswith(deny.resource_name)


def invalid_binding(acl: AclBinding) -> str | None:
    """Why Kafka refuses to create this ACL (INVALID_REQUEST), or None if it is valid (AclApis and
    AclControlManager.validateNewAcl)."""
    if acl.resource_type in (ResourceType.ANY, ResourceType.UNKNOWN):
        return f"Invalid resourceType {acl.resource_type.name}"
    if acl.pattern_type not in (PatternType.LITERAL, PatternType.PREFIXED):
        return f"Invalid patternType {acl.pattern_type.name}"
    if acl.operation in (AclOperation.ANY, AclOperation.UNKNOWN):
        return f"Invalid operation {acl.operation.name}"
    if acl.permission_type not in (PermissionType.ALLOW, PermissionType.DENY):
        return f"Invalid permissionType {acl.permission_type.name}"
    if acl.resource_type == ResourceType.CLUSTER and acl.resource_name != CLUSTER_NAME:
        return f"The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
    if not acl.resource_name:
        return "Invalid empty resource name"
    if ":" not in acl.principal:
        # Kafka's SecurityUtils.parseKafkaPrincipal: "User:" and ":alice" pass, as on Kafka 4.3.1.
        return (
            f"Could not parse principal from `{acl.principal}` (no colon is present separating the principal"
            " type from the principal name)"
        )
    return None


def authorizer_from_config(config: BrokerConfig, fs: FileSystem) -> StandardAuthorizer:
    """The StandardAuthorizer authorizer.class.name asks for, with super.users (semicolon-separated, as
    Kafka writes them) and allow.everyone.if.no.acl.found (Kafka's default: false)."""
    super_users = [p.strip() for p in (config.security_property("super.users") or "").split(";") if p.strip()]
    allow_everyone = (config.security_property("allow.everyone.if.no.acl.found") or "false").strip().lower() == "true"
    return StandardAuthorizer(
        config.data_dir, fs, super_users=super_users, allow_everyone_if_no_acl_found=allow_everyone
    )

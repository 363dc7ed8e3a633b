"""The client quotas the broker holds, altered and described as Kafka's controller does it.

A quota entity is a set of (entity type, name) pairs: ``user``, ``client-id`` or both, or ``ip``;
a None name is that type's ``<default>``. Each entity holds quota values by key, with Kafka's keys,
types and checks (org.apache.kafka.server.config.QuotaConfig, ClientQuotaControlManager), and the
filters of DescribeClientQuotas match as Kafka's ClientQuotasImage.describe matches them.

The quotas are kept in ``client-quotas.json`` in the data dir, replaced whole (write, fsync, rename)
on every change, in the broker's storage FileSystem, so ``--storage memory`` writes nothing. A
damaged file is logged and the broker starts without quotas.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Callable, Container, Iterable
from pathlib import Path

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.storage.fs import DISK, FileSystem

log = logging.getLogger("kafkapy.quota")

FILE_NAME = "client-quotas.json"
USER = "user"
CLIENT_ID = "client-id"
IP = "ip"
ENTITY_TYPES = (USER, CLIENT_ID, IP)

PRODUCER_BYTE_RATE = "producer_byte_rate"
CONSUMER_BYTE_RATE = "consumer_byte_rate"
REQUEST_PERCENTAGE = "request_percentage"
CONTROLLER_MUTATION_RATE = "controller_mutation_rate"
CONNECTION_CREATION_RATE = "connection_creation_rate"

# Kafka's QuotaConfig.userAndClientQuotaConfigs and ipConfigs: the keys of each kind of entity, by
# the ConfigDef type their values are checked against.
USER_AND_CLIENT_KEYS = {
    PRODUCER_BYTE_RATE: "LONG",
    CONSUMER_BYTE_RATE: "LONG",
    REQUEST_PERCENTAGE: "DOUBLE",
    CONTROLLER_MUTATION_RATE: "DOUBLE",
}
IP_KEYS = {CONNECTION_CREATION_RATE: "INT"}
# The largest value of an integral type, with the article of Kafka's "too large for a LONG" message.
_INTEGRAL = {"INT": (2147483647.0, "an INT"), "LONG": (9.223372036854776e18, "a LONG")}

# DescribeClientQuotas match types (Kafka's ClientQuotaFilterComponent).
MATCH_EXACT = 0
MATCH_DEFAULT = 1
MATCH_SPECIFIED = 2

# (entity type, name) pairs sorted by type; a None name is the type's <default>.
Entity = tuple[tuple[str, str | None], ...]
# One AlterClientQuotas op: key and value, or None for a removal.
Op = tuple[str, float | None]


def entity_text(entity: Iterable[tuple[str, str | None]]) -> str:
    """An entity as Kafka's ClientQuotaEntity.toString writes it, for error messages."""
    entries = ", ".join(f"{kind}={name}" for kind, name in entity)
    return f"ClientQuotaEntity(entries={{{entries}}})"


def _entity_error(names: dict[str, str | None], hosts: Container[str]) -> str | None:
    """Kafka's validateEntity and configKeysForEntityType: why an entity cannot hold quotas, or None.

    An ip entity names an IP address or one of ``hosts``, the host names known to resolve.
    """
    if not names:
        return "Invalid empty client quota entity"
    for kind, name in names.items():
        if kind not in ENTITY_TYPES:
            return f"Unhandled client quota entity type: {kind}"
        if name is not None and not name:
            return f"Empty {kind} not supported"
    if IP in names:
        if len(names) > 1:
            return "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId"
        if not is_ip(names[IP]) and names[IP] not in hosts:
            return f"{names[IP]} is not a valid IP or resolvable host."
    return None


def is_ip(name: str | None) -> bool:
    """An IP literal, or the <default>."""
    if name is None:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _value_error(valid_keys: dict[str, str], key: str, value: float) -> str | None:
    """Kafka's validateQuotaKeyValue: why ``key`` cannot be set to ``value``, or None."""
    kind = valid_keys.get(key)
    if kind is None:
        return f"Invalid configuration key {key}"
    if not value > 0:
        return f"Quota {key} must be greater than 0"
    if kind in _INTEGRAL:
        maximum, article = _INTEGRAL[kind]
        if value > maximum:
            return f"Proposed value for {key} is too large for {article}."
        if abs(value % 1) > 1e-6:
            return f"{key} cannot be a fractional value."
    return None


def _alteration_error(names: dict[str, str | None], ops: list[Op], hosts: Container[str]) -> str | None:
    """Why the alteration of an entity by ``ops`` is refused (INVALID_REQUEST), or None."""
    error = _entity_error(names, hosts)
    if error is not None:
        return error
    valid_keys = IP_KEYS if IP in names else USER_AND_CLIENT_KEYS
    for key, value in ops:
        if value is not None and (error := _value_error(valid_keys, key, value)) is not None:
            return error
    return None


def _filter(components: list[tuple[str, int, str | None]]) -> tuple[dict[str, str | None], set[str]]:
    """Kafka's ClientQuotasImage.describe checks of a filter: (exact names by type, types any name matches).

    Raises KafkaError with Kafka 4.3.1's code and message: UNSUPPORTED_VERSION for an unknown entity
    type, INVALID_REQUEST for anything else.
    """
    exact: dict[str, str | None] = {}
    specified: set[str] = set()
    for kind, match_type, match in components:
        if not kind:
            raise KafkaError(ErrorCode.INVALID_REQUEST, "Invalid empty entity type.")
        if kind in exact or kind in specified:
            raise KafkaError(
                ErrorCode.INVALID_REQUEST, f"Entity type {kind} cannot appear more than once in the filter."
            )
        if kind not in ENTITY_TYPES:
            raise KafkaError(ErrorCode.UNSUPPORTED_VERSION, f"Unsupported entity type {kind}")
        if match_type == MATCH_EXACT:
            if match is None:
                raise KafkaError(
                    ErrorCode.INVALID_REQUEST, "Request specified MATCH_TYPE_EXACT, but set match string to null."
                )
            exact[kind] = match
        elif match_type in (MATCH_DEFAULT, MATCH_SPECIFIED):
            if match is not None:
                name = "MATCH_TYPE_DEFAULT" if match_type == MATCH_DEFAULT else "MATCH_TYPE_SPECIFIED"
                raise KafkaError(
                    ErrorCode.INVALID_REQUEST, f"Request specified {name}, but also specified a match string."
                )
            if match_type == MATCH_DEFAULT:
                exact[kind] = None
            else:
                specified.add(kind)
        else:
            raise KafkaError(ErrorCode.INVALID_REQUEST, f"Unknown match type {match_type}")
    if (IP in exact or IP in specified) and (len(exact) + len(specified)) > 1:
        raise KafkaError(
            ErrorCode.INVALID_REQUEST,
            "Invalid entity filter component combination. IP filter component should not be used with "
            "user or clientId filter component.",
        )
    return exact, specified


def _matches(entity: Entity, exact: dict[str, str | None], specified: set[str], strict: bool) -> bool:
    """Kafka's ClientQuotasImage.matches: an exact (or default) name per exact type, any name (the
    default included) per specified type, and with ``strict`` no other types."""
    names = dict(entity)
    if strict and len(names) != len(exact) + len(specified):
        return False
    if any(kind not in names or names[kind] != name for kind, name in exact.items()):
        return False
    return all(kind in names for kind in specified)


class ClientQuotaStore:
    """Every entity's quota values, persisted in the data dir; ``listeners`` are called after each change."""

    def __init__(self, data_dir: Path, fs: FileSystem = DISK) -> None:
        self._fs = fs
        self._path = data_dir / FILE_NAME
        self.quotas: dict[Entity, dict[str, float]] = self._load()
        self.listeners: list[Callable[[], None]] = []

    def _load(self) -> dict[Entity, dict[str, float]]:
        try:
            return _parse(self._fs.read_text(self._path))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
            # OSError: unreadable; ValueError: not UTF-8 or JSON, or a quota Kafka would refuse.
            extra = {"path": str(self._path), "error": str(exc)}
            log.warning("client quotas file damaged; starting without quotas", extra=extra)
            return {}

    def _save(self) -> None:
        entries = [
            {"entity": [[kind, name] for kind, name in entity], "values": values}
            for entity, values in sorted(self.quotas.items(), key=lambda item: json.dumps(item[0]))
        ]
        self._fs.write_text(self._path, json.dumps({"version": 1, "quotas": entries}, indent=1) + "\n")

    def alter(
        self,
        alterations: list[tuple[list[tuple[str, str | None]], list[Op]]],
        validate_only: bool,
        hosts: Container[str] = (),
    ) -> list[str | None]:
        """Apply each (entity, ops) as Kafka's controller: all of an entity's ops or none of them.
        An ip entity may name one of ``hosts``, the host names found to resolve (Kafka resolves them).

        Returns, per alteration, None or the INVALID_REQUEST message that refused it. As in Kafka, a
        type named twice in an entity takes its last name, and an entity altered twice in a request
        or given a key twice gets "Ignoring duplicate entity" (its first alteration still applies).
        """
        results: dict[Entity, str | None] = {}
        entities: list[Entity] = []
        changed = False
        for names_list, ops in alterations:
            names = dict(names_list)
            entity = tuple(sorted(names.items()))
            entities.append(entity)
            keys = [key for key, _ in ops]
            if entity in results or len(set(keys)) != len(keys):
                results[entity] = f"Ignoring duplicate entity {entity_text(names.items())}"
                continue
            error = results[entity] = _alteration_error(names, ops, hosts)
            if error is None and not validate_only:
                changed = self._apply(entity, ops) or changed
        if changed:
            self._save()
            for listener in self.listeners:
                listener()
        return [results[entity] for entity in entities]

    def _apply(self, entity: Entity, ops: list[Op]) -> bool:
        """Set and remove the values of one entity (an entity left without values is gone); True if any changed."""
        values = dict(self.quotas.get(entity, {}))
        for key, value in ops:
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        if values == self.quotas.get(entity, {}):
            return False
        if values:
            self.quotas[entity] = values
        else:
            del self.quotas[entity]
        return True

    def describe(
        self, components: list[tuple[str, int, str | None]], strict: bool
    ) -> list[tuple[Entity, dict[str, float]]]:
        """The entities a DescribeClientQuotas filter matches, with their values; KafkaError for a bad filter."""
        exact, specified = _filter(components)
        return [
            (entity, values) for entity, values in self.quotas.items() if _matches(entity, exact, specified, strict)
        ]

    def clear(self) -> None:
        """Forget every quota (Broker.reset)."""
        if self.quotas:
            self.quotas = {}
            self._save()
            for listener in self.listeners:
                listener()


def _parse(text: str) -> dict[Entity, dict[str, float]]:
    """The quotas of a client-quotas.json; ValueError (or TypeError...) for anything Kafka would not have stored."""
    quotas: dict[Entity, dict[str, float]] = {}
    for item in json.loads(text)["quotas"]:
        entity = tuple(sorted((str(kind), name) for kind, name in item["entity"]))
        values = {str(key): float(value) for key, value in item["values"].items()}
        if any(name is not None and not isinstance(name, str) for _, name in entity):
            raise ValueError(f"entity name not a string in {item}")
        names = dict(entity)
        # A host name resolved when it was stored; it is not looked up again here.
        host = names.get(IP)
        if _alteration_error(names, list(values.items()), {host} if host else ()) is not None or not values:
            raise ValueError(f"invalid quota entry {item}")
        quotas[entity] = values
    return quotas

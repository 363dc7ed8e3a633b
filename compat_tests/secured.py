"""The secured broker of the security cells (issue #14), started the same way for kafkapy and Apache Kafka.

One broker per session, with three listeners:

- PLAINTEXT: the suite's own admin. Its principal is `User:ANONYMOUS`, which `super.users` makes a
  super user (on Kafka the controller listener's principal is ANONYMOUS too, so it needs that anyway).
- SASL_SSL: PLAIN (users declared in the JAAS line, as Kafka users write them) and SCRAM-SHA-256/512
  (credentials added by the suite admin with AlterUserScramCredentials, as `kafka-configs` does).
- SSL with `ssl.client.auth=required` (mTLS): the principal is the client certificate's CN
  (`ssl.principal.mapping.rules`).

StandardAuthorizer with ACLs (nothing is allowed without one), and quota windows of 1 s so a small
producer_byte_rate holds a producer within seconds (Kafka's default 11 windows of 1 s only throttle
after 10 s worth of quota). Certificates come from `kafkapy.security.certs.make_test_certs`; the
broker reads PKCS12 stores, the Python clients and librdkafka PEM files, Java the PKCS12 ones.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from matrix import Unavailable
from reference_kafka import ReferenceKafka, ReferenceKafkaError, assemble, free_port

from kafkapy.security.certs import TestCerts, make_test_certs
from tests.broker_process import BrokerProcess

# SASL users (PLAIN in the JAAS line, SCRAM added by the admin): the round-trip user, the user the acl
# cell grants and revokes, and the user whose produce quota the quota cell sets.
USERS = {"alice": "alice-secret", "bob": "bob-secret", "throttled": "throttled-secret"}
# alice and throttled may do anything with topics and groups named with their prefix (bob has no ACL).
USER_PREFIXES = {"alice": "sec-alice-", "throttled": "sec-throttled-"}
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-256/512
CLIENT_CN = "compat-client"  # the mTLS client certificate's CN, so its principal is User:compat-client
ADMIN_TIMEOUT_S = 20.0
CONFIG_COMMAND_TIMEOUT_S = 120.0


def security_properties(certs: TestCerts) -> dict[str, str]:
    """The server.properties security settings both brokers get (listeners come separately)."""
    plain_users = " ".join(f'user_{name}="{password}"' for name, password in USERS.items())
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    return {
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": (
            f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
        ),
        "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config": scram,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": scram,
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(certs.broker_keystore),
        "ssl.keystore.password": certs.password,
        "ssl.key.password": certs.password,
        "ssl.truststore.type": "PKCS12",
        "ssl.truststore.location": str(certs.truststore),
        "ssl.truststore.password": certs.password,
        # Only the SSL listener asks for a client certificate; SASL_SSL clients authenticate with SASL.
        "listener.name.ssl.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]*).*$/$1/,DEFAULT",
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS",
        "allow.everyone.if.no.acl.found": "false",
        "quota.window.num": "2",
        "quota.window.size.seconds": "1",
    }


# The groups the kafkajs driver's consume joins (compat_tests/drivers/kafkajs/driver.js).
KAFKAJS_GROUP_PREFIX = "kafkapy-compat-kafkajs-"


@dataclass
class SecuredBroker:
    """The running secured broker: a bootstrap per listener, the certificates, the suite's admin."""

    kind: str
    bootstraps: dict[str, str]  # listener name (PLAINTEXT, SASL_SSL, SSL) -> host:port
    certs: TestCerts
    process: BrokerProcess | None = None
    _admin: AdminClient | None = field(default=None, repr=False)
    _quotas: set[tuple[str, str]] = field(default_factory=set, repr=False)

    @property
    def admin_bootstrap(self) -> str:
        return self.bootstraps["PLAINTEXT"]

    def admin(self) -> AdminClient:
        """confluent-kafka's AdminClient on the PLAINTEXT listener: User:ANONYMOUS, a super user."""
        if self._admin is None:
            self._admin = AdminClient({"bootstrap.servers": self.admin_bootstrap, "broker.address.family": "v4"})
        return self._admin

    def sasl_config(self, mechanism: str, user: str, password: str | None = None) -> dict[str, str]:
        """--client-config for SASL_SSL with `mechanism` as `user` (its password unless one is given)."""
        return {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_username": user,
            "sasl_password": USERS[user] if password is None else password,
            "ssl_ca_location": str(self.certs.ca),
            "ssl_truststore_location": str(self.certs.truststore),
            "ssl_truststore_password": self.certs.password,
        }

    def mtls_config(self) -> dict[str, str]:
        """--client-config for the SSL listener with the client certificate (CN=compat-client)."""
        return {
            "security_protocol": "SSL",
            "ssl_ca_location": str(self.certs.ca),
            "ssl_certificate_location": str(self.certs.client_cert),
            "ssl_key_location": str(self.certs.client_key),
            "ssl_truststore_location": str(self.certs.truststore),
            "ssl_truststore_password": self.certs.password,
            "ssl_keystore_location": str(self.certs.client_keystore),
            "ssl_keystore_password": self.certs.password,
        }

    def allow(self, principal: str, resource: ResourceType, name: str, operations: tuple[AclOperation, ...],
              pattern: ResourcePatternType = ResourcePatternType.LITERAL) -> list[AclBinding]:  # fmt: skip
        """ALLOW bindings for `principal` from any host, one per operation."""
        return [AclBinding(resource, name, pattern, principal, "*", op, AclPermissionType.ALLOW) for op in operations]

    def create_acls(self, bindings: list[AclBinding]) -> None:
        """CreateAcls by the suite admin; waits for each result."""
        for future in self.admin().create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result(timeout=ADMIN_TIMEOUT_S)

    def delete_acls(self, bindings: list[AclBinding]) -> None:
        """DeleteAcls by the suite admin, one exact filter per binding."""
        filters = [
            AclBindingFilter(b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation,
                             b.permission_type)
            for b in bindings
        ]  # fmt: skip
        for future in self.admin().delete_acls(filters, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result(timeout=ADMIN_TIMEOUT_S)

    def set_up_users(self) -> None:
        """SCRAM credentials for every user (both mechanisms) and the prefix ACLs of alice and throttled."""
        # One request per mechanism: Kafka refuses a user twice in one request (DUPLICATE_RESOURCE).
        for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512):
            upserts = [
                UserScramCredentialUpsertion(user, ScramCredentialInfo(mechanism, SCRAM_ITERATIONS), password.encode())
                for user, password in USERS.items()
            ]
            for future in self.admin().alter_user_scram_credentials(upserts, request_timeout=ADMIN_TIMEOUT_S).values():
                future.result(timeout=ADMIN_TIMEOUT_S)
        prefixed = ResourcePatternType.PREFIXED
        self.create_acls(
            [
                binding
                for user, prefix in USER_PREFIXES.items()
                for resource in (ResourceType.TOPIC, ResourceType.GROUP)
                for binding in self.allow(f"User:{user}", resource, prefix, (AclOperation.ALL,), prefixed)
            ]
            # kafkajs has no assign(): its driver's consume joins a throwaway group of this prefix.
            + [
                binding
                for user in [*USERS, CLIENT_CN]
                for binding in self.allow(
                    f"User:{user}", ResourceType.GROUP, KAFKAJS_GROUP_PREFIX, (AclOperation.READ,), prefixed
                )
            ]
        )

    def set_producer_byte_rate(self, user: str, rate: int) -> None:
        """AlterClientQuotas producer_byte_rate for `user`, with Kafka's own `kafka-configs` (ConfigCommand):
        no Python client has an AlterClientQuotas API. Once per (user, rate) and session."""
        if (user, str(rate)) in self._quotas:
            return
        java = shutil.which("java")
        if java is None:
            raise Unavailable("java not on PATH: the quota cell sets its quota with Kafka's kafka-configs")
        try:
            lib = assemble()
        except ReferenceKafkaError as exc:
            raise Unavailable(f"Kafka's kafka-configs (the quota cell's AlterClientQuotas) unavailable: {exc}") from exc
        command = [
            java, "-Xmx256m", "-cp", f"{lib}/*", "kafka.admin.ConfigCommand",
            "--bootstrap-server", self.admin_bootstrap, "--alter", "--add-config", f"producer_byte_rate={rate}",
            "--entity-type", "users", "--entity-name", user,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=CONFIG_COMMAND_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kafka-configs --alter producer_byte_rate failed:\n{done.stdout}{done.stderr}")
        self._quotas.add((user, str(rate)))


LISTENERS = {"SASL_SSL": "SASL_SSL", "SSL": "SSL"}


@contextmanager
def start_secured(kind: str, work_dir: Path) -> Iterator[SecuredBroker]:
    """The secured broker: `reference` (Apache Kafka 4.3.1) or `kafkapy`, configured identically."""
    certs = make_test_certs(work_dir / "certs", client_cn=CLIENT_CN)
    properties = security_properties(certs)
    if kind == "reference":
        kafka = ReferenceKafka(work_dir / "kafka", listeners=LISTENERS, properties=properties)
        with kafka:
            addresses = {"PLAINTEXT": kafka.bootstrap, **{n: f"127.0.0.1:{p}" for n, p in kafka.ports.items()}}
            broker = SecuredBroker("reference Apache Kafka", addresses, certs)
            broker.set_up_users()
            yield broker
        return
    ports = {"PLAINTEXT": free_port(), **{name: free_port() for name in LISTENERS}}
    addresses = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    protocols = {"PLAINTEXT": "PLAINTEXT", **LISTENERS}
    properties |= {
        "listeners": ",".join(f"{name}://{address}" for name, address in addresses.items()),
        "listener.security.protocol.map": ",".join(f"{name}:{proto}" for name, proto in protocols.items()),
    }
    config = work_dir / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
    process = BrokerProcess(
        work_dir / "data", port=ports["PLAINTEXT"], log_path=work_dir / "stderr.log",
        extra_args=("--config", str(config)),
    )  # fmt: skip
    process.start()
    try:
        broker = SecuredBroker("kafkapy", addresses, certs, process)
        broker.set_up_users()
        yield broker
    finally:
        process.close()

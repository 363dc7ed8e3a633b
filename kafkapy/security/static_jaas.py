"""A static JAAS file (``-Djava.security.auth.login.config=FILE`` in KAFKA_OPTS) as listener properties.

Apache Kafka's docker image declares SASL users in a JAAS file named by KAFKA_OPTS, whose
``KafkaServer`` section (or ``<listener>.KafkaServer``, which wins for that listener) applies to every
SASL listener, as Kafka's JaasContext.loadServerContext reads it. kafkapy has no JVM system properties,
so docker/entrypoint.sh runs this module to turn the file into the equivalent dynamic properties,
``listener.name.<listener>.<mechanism>.sasl.jaas.config``, which an explicit property still overrides:

    python -m kafkapy.security.static_jaas FILE LISTENERS [PROTOCOL_MAP [CONTROLLER_LISTENER_NAMES]]

prints them as server.properties lines, or one line on stderr and exit 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kafkapy.security.jaas import JaasEntry, format_jaas, parse_jaas_file
from kafkapy.security.listeners import ListenerError, parse_listeners
from kafkapy.security.session import SASL_PLAINTEXT, SASL_SSL

USAGE = "FILE LISTENERS [PROTOCOL_MAP [CONTROLLER_LISTENER_NAMES]]"
JAVA_LOGIN_CONFIG = "java.security.auth.login.config"
KAFKA_SERVER = "KafkaServer"
# The login modules whose options kafkapy's mechanisms read (SCRAM's users live in the credential
# store; ScramLoginModule's options are a broker's own inter-broker login, which kafkapy never makes).
LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "OAUTHBEARER": "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule",
}


def static_jaas_properties(
    path: str, listeners: str, protocol_map: str = "", controller_names: str = ""
) -> dict[str, str]:
    """The ``listener.name.*.sasl.jaas.config`` properties the JAAS file at ``path`` amounts to on
    the SASL listeners of ``listeners``; ValueError (one line, Kafka's words) if it cannot be used."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ValueError(f"{JAVA_LOGIN_CONFIG}={path} cannot be read: {exc.strerror or exc}") from None
    try:
        sections = parse_jaas_file(text)
        endpoints = parse_listeners(listeners, "", protocol_map, controller_names)
    except (ValueError, ListenerError) as exc:
        raise ValueError(f"{JAVA_LOGIN_CONFIG}={path}: {exc}") from None
    properties: dict[str, str] = {}
    for listener in endpoints:
        if listener.security_protocol not in (SASL_PLAINTEXT, SASL_SSL):
            continue
        entries = _server_section(sections, listener.name, path)
        for mechanism, module in LOGIN_MODULES.items():
            entry = next((e for e in entries if e.login_module == module), None)
            if entry is not None:
                name = f"listener.name.{listener.name.lower()}.{mechanism.lower()}.sasl.jaas.config"
                properties[name] = format_jaas(entry)
    return properties


def _server_section(sections: dict[str, list[JaasEntry]], listener_name: str, path: str) -> list[JaasEntry]:
    """The listener's own ``<listener>.KafkaServer`` section, else ``KafkaServer``, as Kafka looks them up."""
    own = f"{listener_name.lower()}.{KAFKA_SERVER}"
    for name in (own, KAFKA_SERVER):
        if name in sections:
            return sections[name]
    raise ValueError(
        f"Could not find a '{own}' or a '{KAFKA_SERVER}' entry in the JAAS configuration."
        f" System property '{JAVA_LOGIN_CONFIG}' is {path}"
    )


def main(argv: list[str]) -> int:
    """Print the properties as ``name=value`` lines; one line on stderr and 1 if the file cannot be used."""
    if not 2 <= len(argv) <= 4:
        print(f"usage: python -m kafkapy.security.static_jaas {USAGE}", file=sys.stderr)
        return 2
    try:
        properties = static_jaas_properties(*argv)
    except ValueError as exc:
        print(f"kafkapy: {exc}", file=sys.stderr)
        return 1
    for name, value in properties.items():
        print(f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

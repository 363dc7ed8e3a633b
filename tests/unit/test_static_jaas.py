"""kafkapy.security.static_jaas: a JAAS file named by KAFKA_OPTS as the listener properties Kafka's
JaasContext would read from it (docker/entrypoint.sh runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkapy.security.jaas import JaasEntry, format_jaas, parse_jaas, parse_jaas_file
from kafkapy.security.static_jaas import main, static_jaas_properties

PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
OAUTH = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"

JAAS_FILE = f"""
/* the listener SASL_SSL has its own users */
sasl_ssl.KafkaServer {{
    {PLAIN} required user_bob="bob-secret";
}};
KafkaServer {{
    {PLAIN} required
        username="admin" password="admin-secret"
        user_alice='alice-secret'; // a comment
    {OAUTH} required unsecuredLoginStringClaim_sub="admin";
    {SCRAM} required username="admin" password="admin-secret";
}};
KafkaClient {{ {PLAIN} required username="alice" password="alice-secret"; }};
"""


def test_a_jaas_file_is_read_section_by_section() -> None:
    sections = parse_jaas_file(JAAS_FILE)
    assert list(sections) == ["sasl_ssl.KafkaServer", "KafkaServer", "KafkaClient"]
    assert sections["sasl_ssl.KafkaServer"] == [JaasEntry(PLAIN, "required", {"user_bob": "bob-secret"})]
    assert [e.login_module for e in sections["KafkaServer"]] == [PLAIN, OAUTH, SCRAM]
    assert sections["KafkaServer"][0].options["user_alice"] == "alice-secret"


@pytest.mark.parametrize("text", ["KafkaServer { x required;", "KafkaServer x required; };", "{ };"])
def test_a_malformed_jaas_file_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="JAAS"):
        parse_jaas_file(text)


@pytest.mark.parametrize("value", ["plain", 'a "quoted" word', "back\\slash", "two\nlines\r", "", "= ; { } //"])
def test_format_jaas_is_read_back_as_written(value: str) -> None:
    entry = JaasEntry(PLAIN, "required", {"user_alice": value, "username": "admin"})
    assert parse_jaas(format_jaas(entry)) == entry


def test_every_sasl_listener_gets_its_section_as_kafka_looks_it_up(tmp_path: Path) -> None:
    """<listener>.KafkaServer wins for its listener, KafkaServer serves the others; modules kafkapy's
    mechanisms do not read (SCRAM's users are in the credential store) make no property."""
    path = tmp_path / "broker_jaas.conf"
    path.write_text(JAAS_FILE)
    listeners = "CONTROLLER://:9093,PLAINTEXT://:9092,SASL_SSL://:9094,INTERNAL://:9095"
    protocol_map = "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SASL_PLAINTEXT"
    properties = static_jaas_properties(str(path), listeners, protocol_map, "CONTROLLER")
    sections = parse_jaas_file(JAAS_FILE)
    assert properties == {
        "listener.name.sasl_ssl.plain.sasl.jaas.config": format_jaas(sections["sasl_ssl.KafkaServer"][0]),
        "listener.name.internal.plain.sasl.jaas.config": format_jaas(sections["KafkaServer"][0]),
        "listener.name.internal.oauthbearer.sasl.jaas.config": format_jaas(sections["KafkaServer"][1]),
    }


def test_main_prints_properties_or_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broker_jaas.conf"
    path.write_text(JAAS_FILE)
    assert main([str(path), "SASL_SSL://:9094"]) == 0
    out = capsys.readouterr().out
    assert out == f'listener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN} required user_bob="bob-secret";\n'
    path.write_text("KafkaServer {")
    assert main([str(path), "SASL_SSL://:9094"]) == 1
    assert capsys.readouterr().err == (
        f"kafkapy: java.security.auth.login.config={path}: JAAS file: section KafkaServer not closed by }}\n"
    )
    path.write_text(JAAS_FILE)
    assert main([str(path), "SASL_SSL://"]) == 1
    assert capsys.readouterr().err.startswith(f"kafkapy: java.security.auth.login.config={path}: ")

"""The pytest plugin's configuration, factories and failure reports, run as inner suites (pytester)."""

from __future__ import annotations

import socket
import textwrap

import pytest

from kafkapy.testing import pytest_plugin

pytest_plugins = ["pytester"]

# The inner suites run in this process (pytester.runpytest); their brokers are subprocesses.
INNER_ARGS = ("-p", "no:cacheprovider")

PARTITIONS_HELPER = """
def partitions(broker, topic):
    \"\"\"Partitions of a topic the broker auto-creates (num.partitions) on a Metadata request.

    The request that creates it answers "not yet" (error 3, as Kafka does); the next one has it.
    \"\"\"
    body = {"topics": [{"name": topic}], "allow_auto_topic_creation": True}
    with broker.client() as client:
        client.request(3, 12, body)
        meta = client.request(3, 12, body)
    return len(meta.topics[0].partitions)
"""


def write_suite(pytester: pytest.Pytester, **modules: str) -> None:
    pytester.makepyfile(helper=PARTITIONS_HELPER, **{k: textwrap.dedent(v) for k, v in modules.items()})


def test_ini_cli_and_marker_set_broker_properties(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nkafka_broker_config = num.partitions=3 log.retention.ms=120000\n")
    write_suite(
        pytester,
        test_plain="""
            from helper import partitions

            def test_ini(kafka_broker):
                assert partitions(kafka_broker, "plain") == 3
                assert kafka_broker.properties == {"num.partitions": "3", "log.retention.ms": "120000"}
        """,
        test_marked="""
            import pytest
            from helper import partitions

            pytestmark = pytest.mark.kafka_broker(config={"num.partitions": "5"})

            def test_module_marker(kafka_broker, kafka_bootstrap):
                assert kafka_bootstrap == kafka_broker.bootstrap_servers
                assert partitions(kafka_broker, "marked") == 5
                assert kafka_broker.properties["log.retention.ms"] == "120000"

            @pytest.mark.kafka_broker(config={"num.partitions": "2"}, storage="memory")
            class TestClass:
                def test_class_marker(self, kafka_broker):
                    assert kafka_broker.storage == "memory"
                    assert partitions(kafka_broker, "in-class") == 2
        """,
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=3)
    cli = pytester.runpytest(*INNER_ARGS, "--kafka-broker-config", "num.partitions=4", "test_plain.py")
    cli.assert_outcomes(failed=1)
    cli.stdout.fnmatch_lines(["*assert 4 == 3*"])


@pytest.mark.parametrize(
    ("prop", "message"),
    [
        ("num.partitions", "expected NAME=VALUE, got 'num.partitions'"),
        ("num.partitions=abc", "invalid num.partitions=abc: expected a whole number"),
        ("num.partition=3", "unknown property num.partition (did you mean num.partitions?)"),
    ],
)
def test_bad_property_is_one_usage_error(pytester: pytest.Pytester, prop: str, message: str) -> None:
    """Malformed, invalid or unknown: refused before any test runs, not a start-up error in each."""
    write_suite(pytester, test_a="def test_a(kafka_broker): pass\ndef test_b(kafka_broker): pass\n")
    result = pytester.runpytest(*INNER_ARGS, "--kafka-broker-config", prop)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.str().count(f"kafka_broker_config: {message}") == 1
    assert "test_a" not in result.stdout.str()


def test_external_without_bootstrap_is_one_usage_error(pytester: pytest.Pytester) -> None:
    write_suite(pytester, test_a="def test_a(kafka_broker): pass\ndef test_b(kafka_broker): pass\n")
    result = pytester.runpytest(*INNER_ARGS, "--kafka-broker=external")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.str().count("--kafka-broker=external needs --kafka-bootstrap") == 1
    assert "test_a" not in result.stdout.str()


def test_external_broker_not_answering_is_one_line(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytest_plugin, "EXTERNAL_BROKER_WAIT_S", 0.5)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        write_suite(pytester, test_a="def test_a(kafka_topic): pass\ndef test_b(kafka_bootstrap): pass\n")
        result = pytester.runpytest(*INNER_ARGS, "--kafka-bootstrap", f"127.0.0.1:{port}")
    result.assert_outcomes(errors=2)
    refused = f"no Kafka broker answering at 127.0.0.1:{port} (--kafka-bootstrap) within 0.5s: *Connection refused*"
    result.stdout.fnmatch_lines(["*ERROR at setup of test_a*", refused, "*ERROR at setup of test_b*", refused])
    assert "Traceback" not in result.stdout.str() and "socket.py" not in result.stdout.str()


def test_broker_factories(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        test_factory="""
            import socket
            import pytest
            from helper import partitions

            STOPPED = []

            @pytest.fixture(scope="module")
            def compacting(kafka_module_broker_factory):
                return kafka_module_broker_factory(config={"num.partitions": "6"}, storage="memory")

            def test_per_test(kafka_broker_factory, kafka_broker):
                one = kafka_broker_factory(config={"num.partitions": "2"})
                two = kafka_broker_factory(in_process=True)
                assert len({one.bootstrap_servers, two.bootstrap_servers, kafka_broker.bootstrap_servers}) == 3
                assert (partitions(one, "t"), partitions(two, "t")) == (2, 1)
                STOPPED.append(one.port)

            def test_stopped_after_the_test(compacting):
                with pytest.raises(OSError):
                    socket.create_connection(("127.0.0.1", STOPPED[0]), timeout=5).close()
                assert partitions(compacting, "t") == 6

            def test_module_broker_is_shared(compacting):
                assert compacting.is_running()
        """,
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=3)


def test_failed_test_report_has_the_brokers_log_of_that_test(pytester: pytest.Pytester) -> None:
    # The inner module's name must not be one of the suite's own (tests/unit/test_logging_setup.py): pytester runs
    # in this process, where that name is already imported.
    write_suite(
        pytester,
        test_broker_log_sections="""
            from helper import partitions

            def test_passes(kafka_broker):
                partitions(kafka_broker, "earlier-topic")

            def test_fails(kafka_broker, kafka_broker_factory):
                partitions(kafka_broker, "needle-topic")
                partitions(kafka_broker_factory(), "factory-topic")
                assert False, "the test failed"
        """,
    )
    result = pytester.runpytest(*INNER_ARGS)
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert out.count("kafkapy broker log") == 2, out
    assert "needle-topic" in out and "factory-topic" in out
    assert "earlier-topic" not in out, "only what the broker logged during the failing test"


def test_reset_between_tests_with_the_session_broker(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        test_reset="""
            import pytest
            from confluent_kafka import Producer

            @pytest.fixture(autouse=True)
            def fresh(kafka_broker):
                kafka_broker.reset()

            @pytest.mark.parametrize("run", [1, 2])
            def test_starts_empty(kafka_broker, kafka_bootstrap, run):
                with kafka_broker.client() as client:
                    assert client.request(3, 12, {"topics": None}).topics == []
                kafka_broker.create_topic("same-name")
                p = Producer({"bootstrap.servers": kafka_bootstrap})
                p.produce("same-name", b"v", partition=0)
                assert p.flush(10) == 0
        """,
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=2)



def test_sasl_marker_gives_a_broker_with_a_sasl_listener(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        test_sasl_marked="""
            import pytest
            from confluent_kafka import Producer

            pytestmark = pytest.mark.kafka_broker(sasl=("PLAIN", {"alice": "alice-secret"}), storage="memory")

            def test_login(kafka_broker):
                producer = Producer({
                    "bootstrap.servers": kafka_broker.listener_bootstrap_servers("SASL_PLAINTEXT"),
                    "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                    "sasl.username": "alice", "sasl.password": "alice-secret",
                })
                producer.produce("sasl-marker", b"x")
                assert producer.flush(30) == 0
        """,
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1)


def test_tls_marker_gives_a_broker_with_an_ssl_listener(pytester: pytest.Pytester) -> None:
    write_suite(
        pytester,
        test_tls_marked="""
            import pytest
            from confluent_kafka import Producer

            pytestmark = pytest.mark.kafka_broker(tls=True)

            def test_produce_over_tls(kafka_broker, kafka_bootstrap):
                settings = kafka_broker.client_config()
                assert settings["security.protocol"] == "SSL"
                assert settings["bootstrap.servers"] == kafka_broker.ssl_bootstrap_servers != kafka_bootstrap
                producer = Producer(settings)
                producer.produce("tls-topic", b"secret")
                assert producer.flush(30) == 0
        """,
    )
    pytester.runpytest(*INNER_ARGS).assert_outcomes(passed=1)

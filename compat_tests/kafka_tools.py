"""Apache Kafka's own admin tools (kafka-configs, kafka-features, kafka-reassign-partitions, ...) run
from the jars reference_kafka.py assembles, against any broker: what users type, checked on kafkapy.

    result = run_tool("kafka-features", "--bootstrap-server", bootstrap, "describe")
    assert result.returncode == 0, result.output

Each tool is its script's main class, run as `bin/kafka-*.sh` would; output is returned, never printed.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from reference_kafka import ReferenceKafkaError, assemble

# The main class behind each bin/*.sh script of Kafka 4.3.1.
TOOLS = {
    "kafka-configs": "kafka.admin.ConfigCommand",
    "kafka-features": "org.apache.kafka.tools.FeatureCommand",
    "kafka-reassign-partitions": "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
    "kafka-metadata-quorum": "org.apache.kafka.tools.MetadataQuorumCommand",
    "kafka-log-dirs": "org.apache.kafka.tools.LogDirsCommand",
    "kafka-topics": "org.apache.kafka.tools.TopicCommand",
    "kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
    "kafka-transactions": "org.apache.kafka.tools.TransactionsCommand",
    "kafka-leader-election": "org.apache.kafka.tools.LeaderElectionCommand",
    "kafka-broker-api-versions": "org.apache.kafka.tools.BrokerApiVersionsCommand",
    "kafka-share-groups": "org.apache.kafka.tools.consumer.group.ShareGroupCommand",
    "kafka-dump-log": "org.apache.kafka.tools.DumpLogSegments",
    "kafka-streams-groups": "org.apache.kafka.tools.streams.StreamsGroupCommand",
}
TOOL_TIMEOUT_S = 60.0
# Quiet logging: the tools' own output is what the tests read.
_LOG4J2 = """\
rootLogger.level = ERROR
rootLogger.appenderRef.stderr.ref = STDERR
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
"""


@dataclass
class ToolResult:
    """A finished tool run: exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout then stderr, for assertion messages."""
        return f"{self.stdout}\n--- stderr ---\n{self.stderr}"


def run_tool(tool: str, *args: str, timeout: float = TOOL_TIMEOUT_S, work_dir: Path | None = None) -> ToolResult:
    """Run one Kafka tool (a name from TOOLS) with its arguments; raise ReferenceKafkaError without java."""
    java = shutil.which("java")
    if java is None:
        raise ReferenceKafkaError("java not on PATH (Java 17+ runs Kafka's tools)")
    lib = assemble()
    log_config = lib.parent / "tools-log4j2.properties"
    if not log_config.exists():
        log_config.write_text(_LOG4J2)
    command = [
        java,
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log_config}",
        "-cp",
        f"{lib}/*",
        TOOLS[tool],
        *args,
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, cwd=work_dir)
    return ToolResult(proc.returncode, proc.stdout, proc.stderr)

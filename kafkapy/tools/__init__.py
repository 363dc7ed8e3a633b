"""Command-line tools a developer expects next to a local Kafka (topics, groups, produce, consume, dump-log).

They speak to the broker with kafkapy's own wire client, so they work against any Kafka, and print
in the layouts of Kafka's own scripts (kafka-topics.sh, kafka-consumer-groups.sh, kafka-dump-log.sh).
"""


class ToolError(Exception):
    """A failure the person running a tool can act on; printed as one ``kafkapy: ...`` line, exit 1."""

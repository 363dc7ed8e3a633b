"""Dynamic broker configs: what AlterConfigs / IncrementalAlterConfigs set on a BROKER resource at run time,
for this node (resource name "1") or as the cluster-wide default (resource name ""), as Kafka's
DynamicBrokerConfig does. A dynamic value wins over server.properties: per-broker, then cluster default,
then static, then Kafka's default (DescribeConfigs reports that order as the synonyms).
"""

from __future__ import annotations

from kafkapy.topic_configs import ConfigSource

# Kafka's DynamicBrokerConfig.AllDynamicConfigs: broker configs that may change without a restart (the
# others are read-only in DescribeConfigs and INVALID_REQUEST/INVALID_CONFIG in the alter APIs).
DYNAMIC_BROKER_CONFIGS: frozenset[str] = frozenset()
# Kafka's DynamicBrokerConfig.PerBrokerConfigs: dynamic, but never as the cluster-wide default.
PER_BROKER_CONFIGS: frozenset[str] = frozenset()


class DynamicBrokerConfig:
    """This node's dynamic configs and the cluster-wide defaults, by Kafka property name."""

    def __init__(self) -> None:
        self.per_broker: dict[str, str] = {}
        self.cluster_default: dict[str, str] = {}

    def lookup(self, name: str) -> tuple[str, ConfigSource] | None:
        """The dynamic value of ``name`` and its source, or None when only static/default values apply."""
        if name in self.per_broker:
            return self.per_broker[name], ConfigSource.DYNAMIC_BROKER_CONFIG
        if name in self.cluster_default:
            return self.cluster_default[name], ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG
        return None

"""Create-topic and alter-config policies the admin tests configure (create.topic.policy.class.name, ...)."""

from __future__ import annotations

from kafkapy.policy import AlterConfigRequest, CreateTopicRequest, PolicyViolation


class AtMostFourPartitions:
    def validate(self, request: CreateTopicRequest) -> None:
        if request.num_partitions > 4:
            raise PolicyViolation(f"Topic {request.topic} may have at most 4 partitions, not {request.num_partitions}")


class NoInfiniteRetention:
    def validate(self, request: AlterConfigRequest) -> None:
        if request.configs.get("retention.ms") == "-1":
            raise PolicyViolation("retention.ms=-1 is not allowed")

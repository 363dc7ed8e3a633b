"""kcat driver: each step runs the `kcat` CLI (librdkafka) the way a user would, and parses what it prints.

What kcat cannot express is answered `unsupported`: creating topics and every other admin op (no admin
mode), transactions, group_consume (`-G` balanced consumers print no assignment to check), per-message
timestamps, null header values, and the offsets the producer was given (it does not print them, so
`results` carry null partition/offset). Keys and values are binary-safe both ways: produce input
is split on delimiters that appear in no message, and consume output carries lengths (%K/%S).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import uuid
from itertools import groupby
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import (  # noqa: E402
    ClientConfig,
    ClientError,
    Driver,
    Message,
    Unsupported,
    codec,
    isolation_level,
    messages,
    serve,
    start_offsets,
)

KCAT = shutil.which("kcat") or shutil.which("kafkacat") or "kcat"
TIMEOUT_S = 30.0
# librdkafka's rd_kafka_err2str() texts, as kcat prints them, for the errors scenarios expect.
ERROR_TEXTS = {
    "Broker: Message size too large": "MESSAGE_TOO_LARGE",
    "Local: Message size too large": "MESSAGE_TOO_LARGE",
    "Local: Unknown partition": "UNKNOWN_TOPIC_OR_PARTITION",
    "Local: Unknown topic": "UNKNOWN_TOPIC_OR_PARTITION",
    "Broker: Unknown topic or partition": "UNKNOWN_TOPIC_OR_PARTITION",
    "Broker: Invalid topic": "INVALID_TOPIC_EXCEPTION",
    "Broker: Topic already exists": "TOPIC_ALREADY_EXISTS",
    "Broker: Topic authorization failed": "TOPIC_AUTHORIZATION_FAILED",
    "Broker: Group authorization failed": "GROUP_AUTHORIZATION_FAILED",
    "SASL authentication error": "SASL_AUTHENTICATION_FAILED",
    "Local: Authentication failure": "SASL_AUTHENTICATION_FAILED",
}
HEADER_RE = re.compile(rb"^(-?\d+) (-?\d+) (-?\d+) (-?\d+) (-?\d+) ?(.*)$")


def kcat_versions() -> tuple[str, tuple[int, ...]]:
    """kcat's version and the version of the librdkafka it is built with."""
    out = subprocess.run([KCAT, "-V"], capture_output=True, text=True, timeout=10, check=False).stdout
    found = re.search(r"Version (\S+)", out)
    library = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", out)
    return (found.group(1) if found else "unknown"), tuple(int(n) for n in library.groups()) if library else ()


KCAT_VERSION, LIBRDKAFKA_VERSION = kcat_versions()
# librdkafka before 2.6.1 repeats the client nonce in its SCRAM client-final-message; Kafka 4.x compares
# nonces strictly (RFC 5802) and refuses it as invalid credentials (confluentinc/librdkafka#4895).
SCRAM_FIXED_IN = (2, 6, 1)


class KcatDriver(Driver):
    client = "kcat"
    version = KCAT_VERSION

    def security_settings(self, config: ClientConfig) -> dict[str, Any]:
        """librdkafka's properties, each a `-X name=value` as a user would type them."""
        if config.sasl and str(config.sasl_mechanism).startswith("SCRAM") and LIBRDKAFKA_VERSION < SCRAM_FIXED_IN:
            built = ".".join(map(str, LIBRDKAFKA_VERSION))
            raise Unsupported(f"SCRAM with librdkafka {built} (< 2.6.1: refused by Kafka 4.x, librdkafka#4895)")
        return dict(config.librdkafka())

    def kcat(self, *args: str, stdin: bytes | None = None, timeout: float = TIMEOUT_S) -> bytes:
        """Run kcat; a non-zero exit becomes a ClientError named after the librdkafka error it printed."""
        settings = [f"{k}={v}" for k, v in self.security.items()]
        cmd = [KCAT, "-b", self.bootstrap, "-X", "broker.address.family=v4", *_options("-X", settings), *args]
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ClientError("Timeout", f"kcat {' '.join(args)} ran over {timeout}s") from exc
        stderr = proc.stderr.decode("utf-8", "replace")
        sys.stderr.write(stderr)
        if proc.returncode != 0 or "% ERROR" in stderr:
            for text, name in ERROR_TEXTS.items():
                if text in stderr:
                    raise ClientError(name, stderr.strip())
            raise ClientError(f"kcat exit {proc.returncode}", stderr.strip())
        return proc.stdout

    def op_produce(self, request: dict[str, Any]) -> dict[str, Any]:
        options = ["-z", codec(request), "-X", f"acks={request.get('acks', 'all')}"]
        if request.get("idempotent"):
            options += ["-X", "enable.idempotence=true"]
        if request.get("max_request_bytes"):
            options += ["-X", f"message.max.bytes={int(request['max_request_bytes'])}"]
        if request.get("batch_bytes"):
            options += ["-X", f"batch.size={int(request['batch_bytes'])}"]
        msgs = messages(request)
        for m in msgs:
            if m.timestamp is not None:
                raise Unsupported("kcat cannot set a message timestamp")
            if any(v is None for _, v in m.headers):
                raise Unsupported("kcat cannot send a null header value")
            if None in (m.key, m.value) and b"" in (m.key, m.value):
                raise Unsupported("kcat -Z makes every empty key/value null: cannot send null and empty together")
        # One kcat run per run of messages sharing partition, headers and null handling, in order.
        for (partition, headers, nulls), group in groupby(
            msgs, key=lambda m: (m.partition, m.headers, None in (m.key, m.value))
        ):
            batch = list(group)
            msg_delim, key_delim = f"<MSG{uuid.uuid4().hex}>", f"<KEY{uuid.uuid4().hex}>"
            data = b"".join((m.key or b"") + key_delim.encode() + (m.value or b"") + msg_delim.encode() for m in batch)
            args = ["-P", "-t", request["topic"], "-D", msg_delim, "-K", key_delim, *options]
            args += ["-p", str(partition)] if partition is not None else []
            args += ["-Z"] if nulls else []
            for name, value in headers:
                args += ["-H", f"{name}={(value or b'').decode()}"]
            self.kcat(*args, stdin=data)
        # kcat prints no throttle time (librdkafka's throttle events stay inside it)
        return {"results": [{"partition": m.partition, "offset": None} for m in msgs], "throttle_time_ms": None}

    def op_consume(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, count = request["topic"], int(request["count"])
        parts = request.get("partitions") or self.partitions(topic)
        timeout = int(request.get("timeout_ms", 10000)) / 1000
        got: list[dict[str, Any]] = []
        for partition, start in start_offsets(request, parts).items():
            if len(got) >= count:
                break
            offset = {"earliest": "beginning", "latest": "end"}.get(str(start), str(start))
            out = self.kcat(
                "-C", "-t", topic, "-p", str(partition), "-o", offset, "-c", str(count - len(got)), "-e", "-q",
                "-X", f"isolation.level={isolation_level(request)}",  # librdkafka defaults to read_committed
                "-f", "%p %o %T %K %S %h\\n%k%s\\n",
                timeout=timeout + 10,
            )  # fmt: skip
            got += [m.to_wire() for m in parse_consumed(out)]
        return {"messages": got}

    def partitions(self, topic: str) -> list[int]:
        t = self.metadata_json()["topics"].get(topic)
        if t is None or t.get("error"):
            raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", f"topic {topic}: {t}")
        return sorted(p["partition"] for p in t["partitions"])

    def query(self, topic: str, partition: int, timestamp: int) -> int:
        """`kcat -Q`: ListOffsets for a timestamp (-1 latest, -2 earliest)."""
        out = self.kcat("-Q", "-t", f"{topic}:{partition}:{timestamp}").decode()
        found = re.search(r"offset (-?\d+)", out)
        if found is None:
            raise ClientError("UnexpectedOutput", out)
        return int(found.group(1))

    def op_watermarks(self, request: dict[str, Any]) -> dict[str, Any]:
        topic, partition = request["topic"], int(request["partition"])
        return {"low": self.query(topic, partition, -2), "high": self.query(topic, partition, -1)}

    def op_offsets_for_times(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"offset": self.query(request["topic"], int(request["partition"]), int(request["timestamp"]))}

    def metadata_json(self) -> dict[str, Any]:
        """`kcat -L -J` for all topics (naming a topic would let librdkafka auto-create it)."""
        md = json.loads(self.kcat("-L", "-J"))
        return {"brokers": md["brokers"], "topics": {t["topic"]: t for t in md["topics"]}}

    def op_metadata(self, request: dict[str, Any]) -> dict[str, Any]:
        md = self.metadata_json()
        brokers = []
        for b in md["brokers"]:
            host, _, port = b["name"].rpartition(":")
            brokers.append({"id": b["id"], "host": host, "port": int(port)})
        topics: dict[str, Any] = {}
        names = request.get("topics")
        for name in md["topics"] if names is None else names:
            t = md["topics"].get(name)
            entry: dict[str, Any] = {"partitions": len(t["partitions"]) if t else 0}
            if t is None:
                entry["error"] = "UNKNOWN_TOPIC_OR_PARTITION"
            elif t.get("error"):
                entry["error"] = ERROR_TEXTS.get(t["error"], t["error"])
            topics[name] = entry
        return {"brokers": brokers, "topics": topics}


def _options(flag: str, values: list[str]) -> list[str]:
    """[flag, v1, flag, v2, ...]."""
    return [word for v in values for word in (flag, v)]


def parse_consumed(out: bytes) -> list[Message]:
    """Records printed with '%p %o %T %K %S %h\\n%k%s\\n': lengths first, so keys and values may hold any byte."""
    found, pos = [], 0
    while pos < len(out):
        eol = out.index(b"\n", pos)
        head = HEADER_RE.match(out[pos:eol])
        if head is None:
            raise ClientError("UnexpectedOutput", repr(out[pos : pos + 200]))
        partition, offset, ts, klen, vlen = (int(g) for g in head.groups()[:5])
        pos = eol + 1
        key = out[pos : pos + klen] if klen >= 0 else None
        pos += max(klen, 0)
        value = out[pos : pos + vlen] if vlen >= 0 else None
        pos += max(vlen, 0) + 1
        pairs = (h.partition("=") for h in head.group(6).decode().split(",") if h)
        headers = tuple((name, text.encode()) for name, _, text in pairs)
        found.append(Message(key, value, headers, ts, partition, offset))
    return found


if __name__ == "__main__":
    serve(KcatDriver)

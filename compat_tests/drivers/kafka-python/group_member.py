"""One kafka-python group member in its own process, for the driver's `group_consume` (see driver.py).

kafka-python 3.0.12 group members run side by side in one driver process stalled now and then (a
member thread waiting for good in NetworkSelector.run's event.wait(), a member that stopped
heartbeating with its old assignment; against Apache Kafka 4.3.1 as against kafkapy). So no two
members share a process, selector or thread here, and a member that misses its deadline is killed.
The stall also happens with one consumer per process, though: it is a join race in the client,
avoided by fetching the topic's metadata before the first JoinGroup (see `main`).

- `MemberProcess` (driver side) starts `python3 group_member.py CONFIG` and is a member as
  `pydriver.run_group` wants one (`poll`, `assignment`, `commit`, `close`): each call is a JSON line
  to the child and one back, waited for until a deadline. A child that misses it is killed (after a
  SIGUSR1, so its threads' stacks land in the driver log) and the call fails with `Timeout`; one that
  dies or answers garbage fails it with `MemberDied`.
- `main` (child side) builds one subscribed KafkaConsumer from CONFIG, answers "ready" (or the error),
  then one reply per request line: `poll` ({timeout_ms} -> messages, and the assignment right after
  that poll), `commit`, `close` (then exits). Its logs go to stderr (the driver log). A watchdog
  thread ends the child when the driver process is gone (its parent changes) or after CONFIG's
  `max_seconds`, whatever the consumer is doing; stdin closing ends it too — no child outlives its op.
"""

from __future__ import annotations

import faulthandler
import importlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pydriver import ClientError, Message, error_name  # noqa: E402

# How long the driver waits for a started child to build its consumer and say "ready", and for
# a close (LeaveGroup unless static) to finish, before killing it.
START_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 10.0
COMMIT_TIMEOUT_MS = 10000
ASSIGNORS = {
    "range": "kafka.coordinator.assignors.range.RangePartitionAssignor",
    "roundrobin": "kafka.coordinator.assignors.roundrobin.RoundRobinPartitionAssignor",
    "cooperative-sticky": "kafka.coordinator.assignors.cooperative_sticky.CooperativeStickyAssignor",
}


def to_message(r: Any) -> Message:
    return Message(r.key, r.value, tuple(r.headers or ()), r.timestamp, r.partition, r.offset)


# --- driver side -------------------------------------------------------------------------------


class MemberProcess:
    """A group member running in a child process (see the module doc); calls are blocking.

    `deadline` (time.monotonic()) bounds every call: past it the child is killed. It starts as
    START_TIMEOUT_S for the child to get ready; the driver then sets the op's own (`op_seconds`
    from then on, at most). `close` gets up to CLOSE_TIMEOUT_S more, so a member can still leave
    the group cleanly at the end of a slow op.
    """

    def __init__(self, name: str, config: dict[str, Any], op_seconds: float) -> None:
        self.name = name
        self.deadline = time.monotonic() + START_TIMEOUT_S
        self.assigned: list[int] = []
        self.lines: queue.Queue[str | None] = queue.Queue()
        max_seconds = START_TIMEOUT_S + op_seconds + 2 * CLOSE_TIMEOUT_S
        config = {**config, "name": name, "max_seconds": max_seconds}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the driver's stderr: the driver log
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._read, name=f"{name}-reader", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, dump_stacks: bool = False) -> None:
        """Kill the child (first asking it to print its threads' stacks) and reap it."""
        if self.alive():
            if dump_stacks:
                try:
                    self.proc.send_signal(signal.SIGUSR1)
                    self.proc.wait(timeout=0.5)  # time to write the stacks; it normally does not exit
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            print(f"{self.name}: pid {self.proc.pid} survives SIGKILL", file=sys.stderr)
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    def _reply(self, what: str, until: float) -> dict[str, Any]:
        """The child's next line, as a reply; kills the child and raises when there is none by `until`."""
        try:
            line = self.lines.get(timeout=max(0.0, until - time.monotonic()))
        except queue.Empty:
            self.kill(dump_stacks=True)
            raise ClientError("Timeout", f"{self.name}: no answer to {what} in time (killed)") from None
        if line is None:
            self.kill()
            raise ClientError("MemberDied", f"{self.name}: exited ({self.proc.returncode}) during {what}")
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            self.kill()
            raise ClientError("MemberDied", f"{self.name}: answered {line[:300]!r} to {what}") from None
        if not reply.get("ok"):
            raise ClientError(str(reply.get("error")), f"{self.name}: {what}: {reply.get('message')}")
        return reply

    def call(self, request: dict[str, Any], until: float | None = None) -> dict[str, Any]:
        if not self.alive():
            raise ClientError("MemberDied", f"{self.name}: not running ({self.proc.returncode})")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except OSError as exc:
            self.kill()
            raise ClientError("MemberDied", f"{self.name}: cannot send {request['op']} ({exc})") from exc
        return self._reply(request["op"], self.deadline if until is None else until)

    def ready(self) -> None:
        """Wait for the child's consumer to be built and subscribed."""
        self._reply("start", self.deadline)

    # The member interface of pydriver.run_group.

    def poll(self, timeout_s: float) -> list[Message]:
        reply = self.call({"op": "poll", "timeout_ms": int(timeout_s * 1000)})
        self.assigned = list(reply["assigned"])
        return [Message.from_wire(m) for m in reply["messages"]]

    def assignment(self) -> list[int]:
        """The assignment right after the last poll (run_group asks for it after each poll)."""
        return self.assigned

    def commit(self) -> None:
        self.call({"op": "commit"})

    def close(self) -> None:
        """Close the consumer (LeaveGroup unless static) and wait for the child to exit; kill it otherwise."""
        # One budget for every member's close (they share the deadline), at least a second each.
        until = max(self.deadline + CLOSE_TIMEOUT_S, time.monotonic() + 1.0)
        try:
            if self.alive():
                self.call({"op": "close"}, until=until)
                self.proc.wait(timeout=max(1.0, until - time.monotonic()))
        except subprocess.TimeoutExpired:
            raise ClientError("Timeout", f"{self.name}: did not exit after close (killed)") from None
        finally:
            self.kill()


# --- child side --------------------------------------------------------------------------------


def _watchdog(max_seconds: float) -> None:
    """Exit the child when the driver is gone or the op's time is up, even if the consumer hangs."""
    parent = os.getppid()
    end = time.monotonic() + max_seconds
    while True:
        time.sleep(0.2)
        if os.getppid() != parent or time.monotonic() > end:
            faulthandler.dump_traceback(all_threads=True)
            print(f"group member {os.getpid()}: driver gone or time up, exiting", file=sys.stderr, flush=True)
            os._exit(3)


def main(argv: list[str]) -> None:
    config = json.loads(argv[1])
    name = config.pop("name")
    threading.Thread(target=_watchdog, args=(float(config.pop("max_seconds")),), daemon=True).start()
    faulthandler.register(signal.SIGUSR1)  # the driver asks for the stacks before it kills a stuck child
    logging.basicConfig(level=logging.WARNING, format=f"{name} %(asctime)s %(levelname)s %(name)s: %(message)s")
    # Replies go to the real stdout only (a private copy of fd 1); fd 1 itself becomes stderr, so
    # anything else printed lands in the driver log.
    out: IO[str] = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def reply(fields: dict[str, Any]) -> bool:
        """Send one reply; False when the driver is gone (its end of the pipe is closed)."""
        try:
            out.write(json.dumps(fields) + "\n")
            out.flush()
        except OSError:
            return False
        return True

    def failure(exc: BaseException) -> dict[str, Any]:
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        message = exc.message if isinstance(exc, ClientError) else str(exc)
        return {"ok": False, "error": error_name(exc), "message": message or repr(exc)}

    from kafka import KafkaConsumer

    topic = config.pop("topic")
    assignor = config.pop("assignor", None)
    if assignor:
        module, _, cls = ASSIGNORS[assignor].rpartition(".")
        config["partition_assignment_strategy"] = [getattr(importlib.import_module(module), cls)]
    consumer: KafkaConsumer | None = None
    try:
        consumer = KafkaConsumer(**config)
        consumer.subscribe([topic])
        # Have the topic's partitions before the first JoinGroup (a blocking metadata fetch). Otherwise
        # a leader can assign with no metadata, rejoin when it arrives, and — if a poll() times out
        # while that JoinGroup waits for the other members — kafka-python 3.0.12 forgets the join in
        # flight: need_rejoin() turns False once the new assignment snapshot matches, the SyncGroup
        # answer is never applied and heartbeats stay off, so the member spins in poll() owning
        # nothing until the coordinator evicts it (group cells timing out now and then without this, on
        # kafkapy and on Apache Kafka 4.3.1 alike).
        if not consumer.partitions_for_topic(topic):
            raise ClientError("UNKNOWN_TOPIC_OR_PARTITION", f"no partitions for {topic}")
    except Exception as exc:  # noqa: BLE001 - reported to the driver
        reply(failure(exc))
        if consumer is not None:
            consumer.close()
        return
    try:
        if not reply({"ok": True, "ready": True}):
            return
        for line in sys.stdin:
            request = json.loads(line)
            op = request["op"]
            fields: dict[str, Any] = {"ok": True}
            try:
                if op == "poll":
                    batches = consumer.poll(timeout_ms=int(request["timeout_ms"]))
                    fields["messages"] = [to_message(r).to_wire() for records in batches.values() for r in records]
                    fields["assigned"] = sorted(tp.partition for tp in consumer.assignment())
                elif op == "commit":
                    consumer.commit(timeout_ms=COMMIT_TIMEOUT_MS)
                elif op == "close":
                    consumer.close()
                else:
                    fields = {"ok": False, "error": "BadRequest", "message": f"unknown op {op!r}"}
            except Exception as exc:  # noqa: BLE001 - reported to the driver
                fields = failure(exc)
            if not reply(fields) or op == "close":
                return
    finally:
        consumer.close()  # a no-op after `close`; driver gone or stdin closed: leave the group anyway


if __name__ == "__main__":
    main(sys.argv)

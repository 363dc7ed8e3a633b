"""Parsers and dispatch for the tool subcommands of ``kafkapy`` (everything but ``serve``)."""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from collections.abc import Callable
from pathlib import Path

from kafkapy.client.wire import WireClient
from kafkapy.protocol.errors import KafkaError
from kafkapy.tools import ToolError, admin, clients, users
from kafkapy.tools import groups as groups_tool
from kafkapy.tools.dump_log import dump_log

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
# A bootstrap server without a port means Kafka's default port, as librdkafka and kcat read it.
DEFAULT_PORT = 9092
# What a shell reports for a command killed by SIGPIPE (128 + 13): `kafkapy dump-log ... | head`.
EXIT_BROKEN_PIPE = 141
# What a shell reports for a command stopped by Ctrl-C (128 + SIGINT), as kafka-console-consumer.
EXIT_INTERRUPTED = 130


def _with_bootstrap(parser: argparse.ArgumentParser, func: Callable | None) -> None:
    parser.add_argument(
        "--bootstrap-server",
        "-b",
        default=DEFAULT_BOOTSTRAP,
        metavar="HOST:PORT",
        help=f"the broker to talk to (default {DEFAULT_BOOTSTRAP}; port {DEFAULT_PORT} when left out)",
    )
    parser.set_defaults(tool=func)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    health = sub.add_parser("health", help="exit 0 once the broker answers ApiVersions (for healthchecks)")
    _with_bootstrap(health, None)
    health.add_argument("--timeout", type=float, default=0, help="keep trying this many seconds (default: once)")
    health.set_defaults(tool=None, health=True)
    _topic_parsers(sub)
    _group_parsers(sub)
    users.add_parser(sub, _with_bootstrap)
    _client_parsers(sub)
    p = sub.add_parser("dump-log", help="print segment and index files, like kafka-dump-log.sh")
    p.add_argument("files", nargs="+", help=".log, .index or .timeindex files of a data dir")
    p.add_argument("--print-data-log", action="store_true", help="also print each record")
    p.add_argument(
        "--offsets-decoder",
        action="store_true",
        help="decode records as __consumer_offsets records (implied for files in a __consumer_offsets-N dir)",
    )
    p.add_argument(
        "--transaction-log-decoder",
        action="store_true",
        help="decode records as __transaction_state records (implied for files in a __transaction_state-N dir)",
    )
    p.set_defaults(tool=None, dump=True)
    _certs_parser(sub)


def _certs_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("certs", help="write a throwaway CA, broker and client certificate for TLS tests")
    p.add_argument("--dir", type=Path, required=True, help="where to write the PEM and PKCS12 files")
    p.add_argument(
        "--hostname",
        action="append",
        default=[],
        help="another name or address for the broker certificate (repeatable; it always has localhost,"
        " 127.0.0.1 and ::1)",
    )
    p.add_argument("--client-cn", default="client", help="the client certificate's common name (default client)")
    p.add_argument("--password", help="of the PKCS12 keystores and truststore (default: printed)")
    p.set_defaults(tool=None, certs=True)


def _certs(args: argparse.Namespace) -> None:
    """Write the certificates and print what was written, with the settings that use them."""
    # Imported here: cryptography is only needed by this command and TLS listeners.
    from kafkapy.security.certs import DEFAULT_PASSWORD, make_test_certs

    certs = make_test_certs(args.dir, args.client_cn, args.hostname, args.password or DEFAULT_PASSWORD)
    print(f"wrote test certificates to {certs.directory} (for tests only: the PEM keys are not encrypted)")
    for label, path in (
        ("CA", certs.ca),
        ("broker certificate chain", certs.broker_cert),
        ("broker key", certs.broker_key),
        (f"client certificate chain (CN={certs.client_cn})", certs.client_cert),
        ("client key", certs.client_key),
        ("broker PKCS12 keystore", certs.broker_keystore),
        ("client PKCS12 keystore", certs.client_keystore),
        ("PKCS12 truststore", certs.truststore),
    ):
        print(f"  {label}: {path}")
    print(f"PKCS12 password: {certs.password}")


def _topic_parsers(sub: argparse._SubParsersAction) -> None:
    topics = sub.add_parser("topics", help="list, create, describe or delete topics").add_subparsers(
        dest="action", required=True
    )
    p = topics.add_parser("list", help="print every topic's name")
    p.add_argument("--exclude-internal", action="store_true", help="leave out __consumer_offsets and the like")
    _with_bootstrap(p, admin.topics_list)
    p = topics.add_parser("create", help="create a topic")
    p.add_argument("topic", help="the topic's name")
    p.add_argument("--partitions", type=int, default=-1, help="partition count (default: the broker's num.partitions)")
    p.add_argument(
        "--replication-factor", type=int, default=-1, help="replicas (default: the broker's default.replication.factor)"
    )
    p.add_argument(
        "--config", action="append", default=[], metavar="NAME=VALUE", help="a topic config (repeatable)"
    )
    p.add_argument("--if-not-exists", action="store_true", help="succeed quietly if the topic already exists")
    _with_bootstrap(p, admin.topics_create)
    p = topics.add_parser("describe", help="partitions and configs, like kafka-topics.sh --describe")
    p.add_argument("topic", nargs="?", help="the topic (default: every topic)")
    _with_bootstrap(p, admin.topics_describe)
    p = topics.add_parser("delete", help="delete a topic")
    p.add_argument("topic", help="the topic's name")
    p.add_argument("--if-exists", action="store_true", help="succeed quietly if there is no such topic")
    _with_bootstrap(p, admin.topics_delete)


def _group_parsers(sub: argparse._SubParsersAction) -> None:
    groups = sub.add_parser("groups", help="list or describe groups, like kafka-consumer-groups.sh").add_subparsers(
        dest="action", required=True
    )
    p = groups.add_parser("list", help="print every group's id (--type, --state: with those columns)")
    p.add_argument("--type", nargs="?", const="", metavar="TYPES",
                   help="show each group's type; given types (classic,consumer,share,streams), only those")
    p.add_argument("--state", nargs="?", const="", metavar="STATES",
                   help="show each group's state; given states (Stable,Empty,...), only those")  # fmt: skip
    _with_bootstrap(p, groups_tool.groups_list)
    p = groups.add_parser("describe", help="offsets and lag, like kafka-consumer-groups.sh --describe")
    p.add_argument("group", help="the group id")
    view = p.add_mutually_exclusive_group()
    view.add_argument("--state", action="store_true", help="coordinator, assignor, state, members, epochs")
    view.add_argument("--members", action="store_true", help="each member and how many partitions it has")
    p.add_argument("--verbose", action="store_true", help="with --members: epochs, current and target assignments")
    _with_bootstrap(p, groups_tool.groups_describe)


def _client_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("produce", help="produce stdin lines to a topic as they arrive, like kafka-console-producer")
    p.add_argument("topic", help="the topic (created if the broker auto-creates topics)")
    p.add_argument("--key-separator", help="split each line into KEY and VALUE at the first separator")
    p.add_argument("--partition", type=int, help="send every record to this partition (default: by key, or spread)")
    p.add_argument(
        "--compression",
        default="none",
        choices=clients.COMPRESSION_CODECS,
        help="compression codec of the batches (default none)",
    )
    p.add_argument(
        "--linger-ms",
        type=int,
        default=clients.DEFAULT_LINGER_MS,
        help=f"send a batch this long after its first line at the latest (default {clients.DEFAULT_LINGER_MS})",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=clients.DEFAULT_BATCH_SIZE,
        help=f"send a partition's batch once it holds this many bytes (default {clients.DEFAULT_BATCH_SIZE});"
        " a longer line goes alone",
    )
    _with_bootstrap(p, clients.produce)

    p = sub.add_parser("consume", help="print a topic's records, like kafka-console-consumer")
    p.add_argument("topic", help="an existing topic")
    p.add_argument("--from-beginning", action="store_true", help="start at the log start offset, not at the end")
    p.add_argument("--partition", type=int, help="read only this partition (default: all)")
    p.add_argument("--max-messages", type=int, help="exit after printing this many records")
    p.add_argument(
        "--timeout-ms", type=int, help="exit after this long without a record (default: run until Ctrl-C)"
    )
    p.add_argument("--print-key", action="store_true", help="print KEY<separator>VALUE")
    p.add_argument("--key-separator", default="\t", help="between key and value with --print-key (default tab)")
    _with_bootstrap(p, clients.consume)


def _health(bootstrap: tuple[str, int], timeout: float) -> int:
    """0 once a broker answers ApiVersions, saying which broker answered; 1 if none did in time."""
    deadline = time.monotonic() + timeout
    address = f"{bootstrap[0]}:{bootstrap[1]}"
    while True:
        try:
            with WireClient(*bootstrap, timeout=2) as client:
                print(admin.describe_broker(client, address))
                return 0
        except (OSError, KafkaError):
            pass
        if time.monotonic() >= deadline:
            print(f"kafkapy: no broker answering at {address}", file=sys.stderr)
            return 1
        time.sleep(0.1)


def bootstrap_address(value: str) -> tuple[str, int]:
    """The first ``HOST[:PORT]`` of a bootstrap list; ToolError if it is not one."""
    first = value.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or "]" in port:
        host, port = first, str(DEFAULT_PORT)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ToolError(f"invalid --bootstrap-server {value}: expected HOST:PORT, like localhost:9092")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    """Run a tool subcommand: 0 on success; 1, with one line on stderr, on an error; never a traceback."""
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, and keep Python from complaining at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "dump", False):
            dump_log(args)
            return 0
        if getattr(args, "certs", False):
            _certs(args)
            return 0
        bootstrap = bootstrap_address(args.bootstrap_server)
        if getattr(args, "health", False):
            return _health(bootstrap, args.timeout)
        try:
            with WireClient(*bootstrap) as client:
                args.tool(client, args)
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) and exc.filename is None and _stdout_closed():
                raise
            raise ToolError(f"{bootstrap[0]}:{bootstrap[1]}: {exc.strerror or exc}") from None
    except KafkaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except ToolError as exc:
        print(f"kafkapy: {exc}", file=sys.stderr)
        return 1
    return 0


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (POLLERR), rather than a broker connection failing."""
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))

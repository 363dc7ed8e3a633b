"""Parsers and dispatch for the tool subcommands of ``kafkapy`` (everything but ``serve``)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from kafkapy.protocol.errors import ErrorCode, KafkaError
from kafkapy.testing.wire import WireClient
from kafkapy.tools import admin, clients
from kafkapy.tools.dump_log import dump_log

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def _with_bootstrap(parser: argparse.ArgumentParser, func: Callable) -> None:
    parser.add_argument("--bootstrap-server", "-b", default=DEFAULT_BOOTSTRAP, metavar="HOST:PORT")
    parser.set_defaults(tool=func)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    health = sub.add_parser("health", help="exit 0 once the broker answers ApiVersions (for healthchecks)")
    _with_bootstrap(health, None)
    health.add_argument("--timeout", type=float, default=0, help="keep trying this many seconds (default: once)")
    health.set_defaults(tool=None, health=True)

    topics = sub.add_parser("topics", help="list, create, describe or delete topics").add_subparsers(
        dest="action", required=True
    )
    p = topics.add_parser("list")
    p.add_argument("--exclude-internal", action="store_true")
    _with_bootstrap(p, admin.topics_list)
    p = topics.add_parser("create")
    p.add_argument("topic")
    p.add_argument("--partitions", type=int, default=-1)
    p.add_argument("--replication-factor", type=int, default=-1)
    p.add_argument("--config", action="append", default=[], metavar="NAME=VALUE")
    _with_bootstrap(p, admin.topics_create)
    p = topics.add_parser("describe")
    p.add_argument("topic", nargs="?")
    _with_bootstrap(p, admin.topics_describe)
    p = topics.add_parser("delete")
    p.add_argument("topic")
    _with_bootstrap(p, admin.topics_delete)

    groups = sub.add_parser("groups", help="list or describe consumer groups").add_subparsers(
        dest="action", required=True
    )
    _with_bootstrap(groups.add_parser("list"), admin.groups_list)
    p = groups.add_parser("describe")
    p.add_argument("group")
    _with_bootstrap(p, admin.groups_describe)

    p = sub.add_parser("produce", help="produce stdin lines to a topic")
    p.add_argument("topic")
    p.add_argument("--key-separator", help="split each line into KEY and VALUE at the first separator")
    p.add_argument("--partition", type=int)
    p.add_argument("--compression", type=int, default=0, choices=range(5), help="0 none 1 gzip 2 snappy 3 lz4 4 zstd")
    _with_bootstrap(p, clients.produce)

    p = sub.add_parser("consume", help="print a topic's records")
    p.add_argument("topic")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--partition", type=int)
    p.add_argument("--max-messages", type=int)
    p.add_argument("--timeout-ms", type=int, default=5000, help="stop after this long without a record")
    p.add_argument("--print-key", action="store_true")
    p.add_argument("--key-separator", default="\t")
    _with_bootstrap(p, clients.consume)

    p = sub.add_parser("dump-log", help="print the batches of segment files, like kafka-dump-log.sh")
    p.add_argument("files", nargs="+")
    p.add_argument("--print-data-log", action="store_true", help="also print each record")
    p.set_defaults(tool=None, dump=True)


def _health(bootstrap: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with WireClient.connect(bootstrap, timeout=2) as client:
                body = {"client_software_name": "kafkapy-health", "client_software_version": "1"}
                if client.request(18, 3, body).error_code == ErrorCode.NONE:
                    return 0
        except OSError:
            pass
        if time.monotonic() >= deadline:
            print(f"kafkapy: no broker answering at {bootstrap}", file=sys.stderr)
            return 1
        time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    """Run a tool subcommand; 0 on success, 1 on a Kafka error or no broker."""
    if getattr(args, "health", False):
        return _health(args.bootstrap_server, args.timeout)
    try:
        if getattr(args, "dump", False):
            dump_log(args)
            return 0
        with WireClient.connect(args.bootstrap_server) as client:
            args.tool(client, args)
    except KafkaError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kafkapy: {args.bootstrap_server}: {exc}", file=sys.stderr)
        return 1
    return 0

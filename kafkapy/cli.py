"""Command line: ``kafkapy serve`` starts a broker; the other subcommands are tools (kafkapy.tools)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import trio

from kafkapy import logs
from kafkapy.config import (
    STORAGE_MODES,
    BrokerConfig,
    apply_properties,
    check_config,
    load_properties_file,
    parse_properties,
)
from kafkapy.server.server import serve
from kafkapy.tools import commands


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run a broker")
    p.add_argument("--config", type=Path, help="Kafka-style server.properties (Kafka's config names)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (default 9092; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, help="where the logs live (default ./kafkapy-data)")
    p.add_argument(
        "--storage",
        choices=STORAGE_MODES,
        help="disk: Kafka-format segment files (default); memory: nothing written, everything lost on exit",
    )
    p.add_argument("--advertised-host", help="host clients are told to connect to (default: --host)")
    p.add_argument("--advertised-port", type=int, help="port clients are told to connect to (default: --port)")
    p.add_argument("--node-id", type=int, help="this broker's node id (default 1)")
    p.add_argument("--num-partitions", type=int, help="partitions of auto-created topics (default 1)")
    p.add_argument(
        "--no-auto-create-topics", action="store_true", help="answer UNKNOWN_TOPIC_OR_PARTITION instead of creating"
    )
    p.add_argument(
        "--override",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Kafka property, as in kafka-server-start --override (repeatable; after --config)",
    )
    p.add_argument("--ready-file", type=Path, help="write HOST:PORT here once the broker accepts connections")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def build_config(args: argparse.Namespace) -> BrokerConfig:
    """Defaults, then the properties file, then flags."""
    config = BrokerConfig()
    if args.config:
        load_properties_file(config, args.config)
    apply_properties(config, parse_properties("\n".join(args.override)))
    for flag, attr in (
        ("host", "host"),
        ("port", "port"),
        ("data_dir", "data_dir"),
        ("storage", "storage"),
        ("advertised_host", "advertised_host"),
        ("advertised_port", "advertised_port"),
        ("node_id", "node_id"),
        ("num_partitions", "num_partitions"),
    ):
        value = getattr(args, flag)
        if value is not None:
            setattr(config, attr, value)
    if args.no_auto_create_topics:
        config.auto_create_topics_enable = False
    check_config(config)
    return config


async def _run(config: BrokerConfig, ready_file: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly (the server closes every log)."""

    def ready(host: str, port: int) -> None:
        if ready_file is not None:
            # Written whole then renamed, so a watcher never reads half an address.
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(f"{host}:{port}\n")
            tmp.replace(ready_file)
        print(f"kafkapy listening on {host}:{port}", flush=True)

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: serve(config, on_ready=ready))
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkapy", description="A Kafka-wire-compatible broker in Python.")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    commands.add_parsers(sub)
    args = parser.parse_args(argv)
    if args.command != "serve":
        return commands.run(args)
    logs.configure(args.log_level)
    try:
        config = build_config(args)
    except (OSError, ValueError) as exc:
        print(f"kafkapy: bad configuration: {exc}", file=sys.stderr)
        return 2
    trio.run(_run, config, args.ready_file)
    return 0

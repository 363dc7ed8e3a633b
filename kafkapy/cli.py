"""Command line: ``kafkapy serve`` starts a broker; the other subcommands are tools (kafkapy.tools)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import trio

from kafkapy import RESET_DONE_LINE, __version__, logging_setup
from kafkapy.broker import Broker
from kafkapy.broker_config import (
    STORAGE_MODES,
    BrokerConfig,
    ConfigError,
    apply_properties,
    check_config,
    checked,
    load_properties_file,
    parse_port,
    property_parser,
)
from kafkapy.security.session import PLAINTEXT
from kafkapy.server.server import serve
from kafkapy.server.startup import StartupError, first_exception
from kafkapy.tools import commands


def _serve_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run a broker")
    p.add_argument("--config", type=Path, help="Kafka-style server.properties (Kafka's config names)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", help="port to listen on (default 9092; 0 picks a free one)")
    p.add_argument("--data-dir", type=Path, help="where the logs live (default ./kafkapy-data)")
    p.add_argument(
        "--storage",
        choices=STORAGE_MODES,
        help="disk: Kafka-format segment files (default); memory: nothing written, everything lost on exit",
    )
    p.add_argument(
        "--listener",
        action="append",
        metavar="NAME://HOST:PORT",
        help="a listener, as in Kafka's listeners (repeatable, replaces them; SSL://:9093 listens on --host;"
        " --host/--port then set the first one's address)",
    )
    p.add_argument(
        "--sasl-user",
        action="append",
        metavar="NAME:PASSWORD",
        help="a user every SASL mechanism accepts (repeatable; kafkapy.sasl.users), for a SASL_* --listener",
    )
    p.add_argument(
        "--sasl-mechanism",
        action="append",
        metavar="MECHANISM",
        help="a mechanism SASL listeners offer (repeatable; sasl.enabled.mechanisms; default PLAIN)",
    )
    p.add_argument("--advertised-host", help="host clients are told to connect to (default: --host)")
    p.add_argument("--advertised-port", help="port clients are told to connect to (default: --port)")
    p.add_argument("--node-id", help="this broker's node id (default 1)")
    p.add_argument("--num-partitions", help="partitions of auto-created topics (default 1)")
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
    p.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"], help="stderr log level"
    )


# serve's flags: the BrokerConfig attribute each sets and the parser that checks its text.
_FLAGS: tuple[tuple[str, Callable[[str], object]], ...] = (
    ("host", str),
    ("port", parse_port),
    ("data_dir", Path),
    ("storage", str),
    ("advertised_host", str),
    ("advertised_port", parse_port),
    ("node_id", property_parser("node.id")),
    ("num_partitions", property_parser("num.partitions")),
)


def build_config(args: argparse.Namespace) -> BrokerConfig:
    """Defaults, then the properties file, then --override, then flags; ConfigError for a bad one."""
    config = BrokerConfig()
    if args.config:
        load_properties_file(config, args.config)
    overrides = _overrides(args.override)
    if args.listener:
        # In the overrides' batch, so an advertised.listeners override may name a --listener.
        overrides["listeners"] = ",".join(args.listener)
    if args.sasl_user:
        overrides["kafkapy.sasl.users"] = ",".join(args.sasl_user)
    if args.sasl_mechanism:
        overrides["sasl.enabled.mechanisms"] = ",".join(args.sasl_mechanism)
    apply_properties(config, overrides)
    for attr, parse in _FLAGS:
        value = getattr(args, attr)
        if value is not None:
            setattr(config, attr, checked("--" + attr.replace("_", "-"), value, parse))
    if args.no_auto_create_topics:
        config.auto_create_topics_enable = False
    check_config(config)
    return config


def _overrides(values: list[str]) -> dict[str, str]:
    """``--override NAME=VALUE`` arguments as properties, taken as written (no properties-file escapes
    or continuations, as Kafka's --override); ConfigError for one without ``=``."""
    props = {}
    for value in values:
        name, sep, setting = value.partition("=")
        if not sep:
            raise ConfigError(f"invalid --override {value}: expected NAME=VALUE")
        props[name.strip()] = setting.strip()
    return props


async def _run(config: BrokerConfig, ready_file: Path | None = None) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly (the server closes every log).

    SIGUSR1 empties the broker (Broker.reset) for test suites; a signal only the process's owner
    can send, so no Kafka client can reach it by accident.
    """
    brokers: list[Broker] = []

    def ready(host: str, port: int) -> None:
        if ready_file is not None:
            # Written whole then renamed, so a watcher never reads half an address.
            tmp = ready_file.with_name(ready_file.name + ".tmp")
            tmp.write_text(f"{host}:{port}\n")
            tmp.replace(ready_file)
        # Each listener's address first, so a watcher that waits for the listening line has them all;
        # the default single PLAINTEXT listener prints none, so the listening line stays the first line.
        listeners = config.client_listeners()
        if [(each.name, each.security_protocol) for each in listeners] != [(PLAINTEXT, PLAINTEXT)]:
            for listener in listeners:
                print(f"kafkapy listener {listener} ({listener.security_protocol})")
        print(f"kafkapy listening on {host}:{port}", flush=True)

    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGUSR1) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: serve(config, on_ready=ready, on_open=brokers.append))
            async for signum in signals:
                if signum != signal.SIGUSR1:
                    nursery.cancel_scope.cancel()
                    break
                if brokers:
                    brokers[0].reset()
                    print(RESET_DONE_LINE, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """``kafkapy``'s argument parser: ``serve`` and the tool subcommands."""
    parser = argparse.ArgumentParser(prog="kafkapy", description="A Kafka-wire-compatible broker in Python.")
    parser.add_argument("--version", action="version", version=f"kafkapy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    commands.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command != "serve":
        return commands.run(args)
    logging_setup.configure(args.log_level)
    try:
        config = build_config(args)
    except ConfigError as exc:
        print(f"kafkapy: {exc}", file=sys.stderr)
        return 2
    problem = None
    try:
        trio.run(_run, config, args.ready_file)
    except* StartupError as group:
        problem = first_exception(group)
    if problem is not None:
        print(f"kafkapy: {problem}", file=sys.stderr)
        return 2
    return 0

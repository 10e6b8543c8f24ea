"""The `yakuba` command. Every subcommand reads var/yakuba.yaml unless --config says otherwise."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from appservice.core.configerror import ConfigError
from appservice.core.feature import CliCommand

DEFAULT_CONFIG = Path("var/yakuba.yaml")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yakuba", description="Yakuba (役場) — Matrix appservice for municipalities")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="yakuba.yaml (default: var/yakuba.yaml)")
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("run", help="run the appservice (and bots) with an existing config")

    dev = sub.add_parser("dev", help="embedded stack: Synapse on SQLite + Yakuba (what `make run` does)")
    dev.add_argument("--data-dir", type=Path, default=Path("var"))
    dev.add_argument("--server-name", default="city-a.localhost")
    dev.add_argument("--hs-port", type=int, default=8008)
    dev.add_argument("--as-port", type=int, default=9009)
    fed = sub.add_parser("dev-federation", help="two federating cities, each Synapse + Yakuba (`make run-federation`)")
    fed.add_argument("--data-dir", type=Path, default=Path("var/federation"))

    sub.add_parser("deploy", help="production configuration: deploy init|bucket|first-admin", add_help=False)
    admin = sub.add_parser("admin", help="manage Yakuba admins")
    asub = admin.add_subparsers(dest="admin_cmd", required=True)
    for name in ("add", "remove"):
        a = asub.add_parser(name)
        a.add_argument("user_id")
    asub.add_parser("list")

    for cli in feature_cli().values():
        sub.add_parser(cli.name, help=cli.help, add_help=False)
    return p


def feature_cli() -> dict[str, CliCommand]:
    """The features' own subcommands (`scan`, `calendar`, `archive`, `offboard`): each parses
    its own arguments."""
    from appservice.app.assembly import DEFAULT_FEATURES

    return {c.name: c for f in DEFAULT_FEATURES for c in f.cli}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # Feature subcommands parse their own arguments; find the subcommand after global options.
    config_path = DEFAULT_CONFIG
    rest = argv
    if len(argv) >= 2 and argv[0] == "--config":
        config_path, rest = Path(argv[1]), argv[2:]
    commands = feature_cli()
    if rest and rest[0] == "deploy":  # production configuration: appservice/app/deploy_init.py
        from appservice.app.deploy_init import deploy_main

        return deploy_main(rest[1:], config_path)
    if rest and rest[0] in commands:
        try:
            return _feature_command(commands[rest[0]], rest[1:], config_path)
        except ConfigError as exc:
            print(f"config error: {exc}", file=sys.stderr)
            return 2
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "dev":
            from appservice.app.devstack.run import run_dev

            return asyncio.run(run_dev(args.data_dir, args.server_name, args.hs_port, args.as_port))
        if args.cmd == "dev-federation":
            from appservice.app.devstack.run_federation import run_federation

            return asyncio.run(run_federation(args.data_dir))
        if args.cmd == "run":
            return asyncio.run(_run(args.config))
        if args.cmd == "admin":
            from appservice.app.admins_cli import admin_main

            return asyncio.run(admin_main(args.config, args.admin_cmd, getattr(args, "user_id", None)))
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 2


def _feature_command(cli: CliCommand, rest: list[str], config_path: Path) -> int:
    from appservice.app.config import load_config

    return cli.main(rest, load_config(config_path) if cli.needs_config else None)


async def _run(config_path: Path) -> int:
    import signal

    from appservice.app import logs
    from appservice.app.config import load_config
    from appservice.app.service import YakubaService

    config = load_config(config_path)
    logs.configure(config.log_format, config.log_level)
    service = YakubaService(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    try:
        await stop.wait()
    finally:
        await service.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

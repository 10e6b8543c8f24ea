"""`make run-federation`: two municipalities on this machine — city-a (城北市) and city-b (城南町),
each Synapse + Yakuba + bots, federating with each other over loopback TLS.

Everything lives under var/federation/: one shared self-signed certificate (tls/) and one data
dir per city, laid out like `make run`'s var/ and made by the same `run.prepare` (and reused the
same way on the next run). Each Yakuba's `federation.partners` names the other city, and each
Synapse's allow-list is rendered from that list (devstack/federation.py → the federation
feature's fragment), so `yakuba federation check` agrees with what runs. Ports are fixed, below
32768 (TIME-WAIT in the ephemeral range can refuse a bind) and apart from `make run`'s
(8008/9009/8080), so both can run at once. Server names are `city-x.localhost:<federation port>`;
Synapse resolves them through devstack/synapse_launch.py. Each city gets the web client on its
own port (one origin per city, so a browser keeps both sessions). Ctrl-C stops both Yakubas,
then both Synapses.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from appservice.app import logs
from appservice.app.config import load_config
from appservice.app.devstack import federation, synapse, webclient
from appservice.app.devstack.run import first_admin, prepare
from appservice.app.service import YakubaService
from appservice.core.config import Config, Partner

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CitySpec:
    key: str
    name: str
    name_en: str
    client_port: int   # Synapse's client API (plain HTTP, loopback)
    fed_port: int      # Synapse's federation API (TLS); part of the server name
    as_port: int       # Yakuba's appservice listener
    web_port: int      # the web client

    @property
    def server_name(self) -> str:
        return f"{self.key}.localhost:{self.fed_port}"

    @property
    def hs_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.client_port, self.fed_port, self.as_port, self.web_port)

    def partner(self) -> Partner:
        """This city as the other one lists it; `address` lets `federation check` reach it
        directly (the `.localhost` name resolves only inside Synapse's launcher)."""
        return Partner(server=self.server_name, name=self.name, name_en=self.name_en,
                       address=f"127.0.0.1:{self.fed_port}")


CITIES = (
    CitySpec("city-a", "城北市", "Johoku City", 18008, 18448, 19009, 18080),
    CitySpec("city-b", "城南町", "Jonan Town", 28008, 28448, 29009, 28080),
)


def prepare_federation(root: Path, cities: tuple[CitySpec, ...] = CITIES) -> dict[str, Path]:
    """Create (once) the certificate and each city's configs; return each city's yakuba.yaml."""
    root = root.resolve()
    crt, key = federation.certificate(root / "tls", [c.server_name for c in cities])
    paths: dict[str, Path] = {}
    for city in cities:
        data_dir = root / city.key
        partners = [c.partner() for c in cities if c is not city]
        yakuba_federation = {
            "partners": [{"server": p.server, "name": p.name, "name_en": p.name_en, "address": p.address}
                         for p in partners],
            "synapse_config": "synapse/homeserver.yaml",   # relative to yakuba.yaml
            # The path exactly as in homeserver.yaml (federation_custom_ca_list), which
            # `yakuba federation check` compares with the fragment rendered from this one.
            "ca_file": str(crt),
        }
        paths[city.key] = prepare(data_dir, city.server_name, city.client_port, city.as_port,
                                  federation=federation.synapse_settings(city.fed_port, crt, key, partners),
                                  extra={"federation": yakuba_federation})
    return paths


def busy_ports(cities: tuple[CitySpec, ...] = CITIES) -> list[int]:
    """Ports something listens on. SO_REUSEADDR as the servers themselves bind: connections of
    the last run left in TIME-WAIT do not count."""
    busy = []
    for port in (p for c in cities for p in c.ports):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                busy.append(port)
    return busy


@dataclass
class RunningCity:
    spec: CitySpec
    config: Config
    service: YakubaService | None = None
    web: webclient.WebClient | None = None
    password: str | None = None
    admin_room: str | None = None


async def _start_yakuba(city: RunningCity, data_dir: Path) -> None:
    """As `make run` does for its one city: the bot account, the first admin, then Yakuba."""
    structlog.contextvars.bind_contextvars(city=city.spec.key)  # this task and what it starts
    config = city.config
    city.service = YakubaService(config)
    await city.service.client.register_appservice_user(config.appservice.bot_localpart)
    city.password = await first_admin(data_dir, config.homeserver.url, config.homeserver.server_name,
                                      config.sender)
    await city.service.start()
    city.admin_room = await city.service.state.admin_room()
    city.web = await webclient.start_web_client(config.homeserver.url, port=city.spec.web_port)


async def _all(jobs: Iterable[Awaitable[Any]]) -> None:
    """Run the jobs concurrently (each its own task: its own log context); wait for every one
    before raising the first failure, so nothing is left half-started when the stack stops."""
    outcomes = await asyncio.gather(*jobs, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def run_federation(root: Path) -> int:
    root = Path(os.path.abspath(root))  # noqa: ASYNC240 (once, at start-up)
    busy = busy_ports()
    if busy:
        print(f"ポートが使用中です / Ports already in use: {', '.join(map(str, busy))} "
              "(make run-federation が既に動いていませんか / is make run-federation running already?)")
        return 1
    paths = prepare_federation(root)
    cities = [RunningCity(spec, load_config(paths[spec.key])) for spec in CITIES]
    logs.configure(cities[0].config.log_format, cities[0].config.log_level)
    procs = [synapse.SynapseProcess(root / c.spec.key / "synapse" / "homeserver.yaml", c.spec.hs_url)
             for c in cities]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        log.info("synapses_starting", urls=[c.spec.hs_url for c in cities])
        # Both Synapses at once (about 2 s, not 4), then both Yakubas.
        await _all(asyncio.to_thread(p.start) for p in procs)
        await _all(_start_yakuba(c, root / c.spec.key) for c in cities)
        print(banner(cities, root), flush=True)
        await stop.wait()
    finally:
        log.info("stopping")
        for c in cities:
            if c.service is not None:
                with contextlib.suppress(Exception):
                    await c.service.stop()
            if c.web is not None:
                await c.web.stop()
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in procs))
    return 0


def _shown(path: Path) -> str:
    """A path as the user would type it from here: relative when under the current dir."""
    rel = os.path.relpath(path)
    return path.as_posix() if rel.startswith("..") else rel


def _city_block(c: RunningCity, root: Path) -> str:
    s, secret = c.spec, _shown(root / c.spec.key / "secrets" / "admin-password")
    password = (f"{c.password}   (初回のみ表示 / shown once; {secret})" if c.password else secret)
    return "\n".join([
        f" {s.name} / {s.name_en}  ({s.key})",
        f"   ホームサーバー / Homeserver : {s.hs_url}",
        f"   サーバー名 / Server name     : {s.server_name}",
        f"   管理者 / Admin user          : @admin:{s.server_name}",
        f"   パスワード / Password        : {password}",
        f"   管理ルーム / Admin room      : {c.admin_room}",
        f"   {webclient.banner_line(c.web)}",
    ])


def banner(cities: list[RunningCity], root: Path) -> str:
    a, b = cities[0].spec, cities[1].spec
    rule = "=" * 74
    return "\n".join([
        "", rule,
        f" 連合しています / Federating: {a.name} ({a.server_name}) ⇄ {b.name} ({b.server_name})",
        "-" * 74,
        *(_city_block(c, root) + "\n" for c in cities),
        " それぞれのホームサーバー URL を Matrix クライアントに指定し、admin でログインしてください。",
        " In a Matrix client, set the homeserver to a city's URL above and log in as \"admin\".",
        "",
        " 試してみること / Things to try:",
        f"  1. {a.name}の admin でルームを作り @admin:{b.server_name} を招待 → {b.name}側に招待が届きます。",
        f"     As admin on {a.key}, create a room and invite @admin:{b.server_name}; accept it on {b.key}.",
        "  2. 管理ルームで / In an admin room:  !yakuba federation status",
        "     相手の自治体・到達可否・最後に届いたイベント / partners, reachable or not, last event seen.",
        "  3. 別の端末で / In another terminal:",
        f"     .venv/bin/yakuba --config {_shown(root / a.key / 'yakuba.yaml')} federation check",
        "",
        f" データ / Data: {_shown(root)}   停止 / Stop: Ctrl-C   初期化 / Reset: make reset (var/ ごと / all of var/)",
        rule,
    ])

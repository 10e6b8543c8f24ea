"""Two or three real Synapses federating over loopback, each city with its own Yakuba.

- city-a and city-b: partners of each other (`federation.partners` in each Yakuba's config,
  Synapse's allow-list rendered from it), each with Synapse + Yakuba + bots.
- city-c (optional): a plain Synapse without Yakuba that is on nobody's allow-list and
  itself federates with everyone — the stranger whose invites must be refused.

Server names are `city-x.localhost:<federation port>`; the federation listener is TLS with one
self-signed certificate that every Synapse trusts (verification stays on). Ports are below
32768; everything is written under one temp dir. See ../shared/notes/federation-facts.md and
appservice/app/devstack/federation.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appservice.app.devstack import federation, setup, synapse
from appservice.core.config import Partner
from tests.stack import PASSWORD, WORKING_TIME, Homeserver, YakubaProcess, write_yakuba_config

NAMES = {"city-a": "城北市", "city-b": "城南町", "city-c": "無関係村"}
NAMES_EN = {"city-a": "Johoku City", "city-b": "Jonan Town", "city-c": "Unrelated Village"}


@dataclass
class City:
    key: str                      # city-a
    hs: Homeserver
    fed_port: int
    yakuba: YakubaProcess | None = None

    @property
    def server_name(self) -> str:
        return self.hs.server_name

    def user_id(self, name: str) -> str:
        return self.hs.user_id(name)


@dataclass
class FederatedStack:
    root: Path
    cities: dict[str, City] = field(default_factory=dict)

    def __getitem__(self, key: str) -> City:
        return self.cities[key]

    def close(self) -> None:
        for city in self.cities.values():
            if city.yakuba is not None:
                city.yakuba.stop()
        for city in self.cities.values():
            city.hs.process.stop()
        if os.environ.get("YAKUBA_KEEP_TEST_DIR"):
            print(f"federation test data kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)


def partners_of(key: str, servers: dict[str, str], yakuba_cities: tuple[str, ...]) -> list[Partner]:
    """city-a and city-b list each other; city-c lists nobody (it federates with everyone)."""
    if key not in yakuba_cities:
        return []
    return [Partner(server=servers[k], name=NAMES[k], name_en=NAMES_EN[k])
            for k in yakuba_cities if k != key]


def yakuba_settings(city: str, server: str, partners: list[Partner], root: Path,
                    fed_ports: dict[str, int], ca_file: Path) -> dict[str, Any]:
    directory = root / "staff_directory.csv"
    directory.write_text(
        "user_id,display_name,department,title\n"
        f"@alice:{server},有栖 花子,総務部 総務課,主事\n"
        f"@amy:{server},天野 美穂,企画部 情報政策課,係長\n", encoding="utf-8")
    return {
        "federation": {
            "partners": [{"server": p.server, "name": p.name, "name_en": p.name_en,
                          # city-b (a town) trusts city-a (the prefecture's role) to declare a disaster
                          "trust_disaster": city == "city-b" and p.name == NAMES["city-a"],
                          # *.localhost does not resolve in Yakuba's process: the direct check
                          # goes to the loopback port (the certificate is checked by name).
                          "address": f"127.0.0.1:{fed_ports[p.server]}"} for p in partners],
            "synapse_config": str(root / "synapse" / "homeserver.yaml"),
            "ca_file": str(ca_file),
        },
        "quiet_hours": {"enabled": True, "reconcile_interval_seconds": 4},
        "retention": {"enabled": True, "directory": str(directory)},
        "offboarding": {"poll_seconds": 0.5, "four_eyes": False, "progress_every": 2},
        "pii": {},
        "broadcast": {"reminder_poll_seconds": 1, "municipality": NAMES[city], "retry_seconds": 1},
    }


def _start_city(root: Path, key: str, servers: dict[str, str], ports: dict[str, tuple[int, int, int]],
                crt: Path, tls_key: Path, yakuba_cities: tuple[str, ...]) -> City:
    hs_port, as_port, fed_port = ports[key]
    server = servers[key]
    city_root = root / key
    city_root.mkdir(parents=True)
    registration = city_root / "registration.yaml"
    reg = setup.ensure_registration(registration, server, f"http://127.0.0.1:{as_port}")
    partners = partners_of(key, servers, yakuba_cities)
    fed = federation.synapse_settings(fed_port, crt, tls_key, partners)
    if key not in yakuba_cities:
        del fed["federation_domain_whitelist"]   # the stranger federates with everyone
    cfg_path = synapse.generate(city_root / "synapse", server, hs_port, registration, test_mode=True,
                                federation=fed)
    proc = synapse.SynapseProcess(cfg_path, f"http://127.0.0.1:{hs_port}")
    proc.start()
    hs = Homeserver(city_root, f"http://127.0.0.1:{hs_port}", server, as_port, registration,
                    synapse.read_config(cfg_path)["registration_shared_secret"], reg["as_token"],
                    reg["hs_token"], proc)
    return City(key, hs, fed_port)


async def _prepare_bots(hs: Homeserver) -> None:
    from appservice.matrix.client import MatrixClient

    client = MatrixClient(hs.url, hs.as_token, f"@_yakuba:{hs.server_name}",
                          as_sender=f"@_yakuba_appservice:{hs.server_name}")
    try:
        for lp in ("_yakuba", "_yakuba_archive"):
            await client.register_appservice_user(lp)
    finally:
        await client.close()
    token = await setup.login(hs.url, "admin", PASSWORD)
    await setup.make_server_admin(hs.url, token, f"@_yakuba:{hs.server_name}")


def start_federation(*, with_stranger: bool = True,
                     yakuba_cities: tuple[str, ...] = ("city-a", "city-b")) -> FederatedStack:
    root = Path(tempfile.mkdtemp(prefix="yakuba-fed-"))
    stack = FederatedStack(root)
    keys = list(yakuba_cities) + (["city-c"] if with_stranger else [])
    taken: set[int] = set()
    ports = {k: (federation.low_port(taken), federation.low_port(taken), federation.low_port(taken)) for k in keys}
    servers = {k: f"{k}.localhost:{ports[k][2]}" for k in keys}
    crt, tls_key = federation.certificate(root / "tls", list(servers.values()))
    try:
        with ThreadPoolExecutor(len(keys)) as pool:  # Synapses start in parallel (~2 s, not 6)
            futures = {k: pool.submit(_start_city, root, k, servers, ports, crt, tls_key, yakuba_cities)
                       for k in keys}
            errors = []
            for k, fut in futures.items():
                try:
                    stack.cities[k] = fut.result()
                except Exception as exc:  # the others are stopped by close() below
                    errors.append(exc)
            if errors:
                raise errors[0]
        for k in keys:
            hs = stack.cities[k].hs
            for name in ("alice", "amy", "bob", "carol", "dave"):
                hs.register(name)
            hs.register("admin", admin=True)
            if k in yakuba_cities:
                asyncio.run(_prepare_bots(hs))
        for k in yakuba_cities:
            city = stack.cities[k]
            data_dir = city.hs.root / "yakuba"
            extra = yakuba_settings(k, city.server_name, partners_of(k, servers, yakuba_cities), city.hs.root,
                                    {servers[c]: ports[c][2] for c in keys}, crt)
            path = write_yakuba_config(city.hs, data_dir, extra)
            y = YakubaProcess(city.hs, path, data_dir, data_dir / "clock", city.hs.root / "yakuba.log")
            y.set_clock(WORKING_TIME)
            y.start()
            city.yakuba = y
        return stack
    except BaseException:
        stack.close()
        raise

"""The test stack: a real Synapse and a Yakuba appservice process, for tests and benchmarks.

The Synapse runs from the pip-installed package on SQLite, on free loopback ports in a temp
dir, with rate limits raised. Yakuba runs as a separate process (`yakuba --config … run`) so
tests can kill it with SIGKILL and restart it, exactly as in production.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from appservice.app.devstack import setup, synapse

SERVER_NAME = "city-a.localhost"
WORKING_TIME = "2026-11-25T10:00:00+09:00"  # a Wednesday morning in Tokyo
PASSWORD = "correct horse battery staple"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Homeserver:
    root: Path
    url: str
    server_name: str
    as_port: int
    registration: Path
    shared_secret: str
    as_token: str
    hs_token: str
    process: synapse.SynapseProcess
    users: dict[str, str] = field(default_factory=dict)
    postgres: Any = None  # tests.postgres.PostgresCluster when Synapse runs on PostgreSQL

    def user_id(self, name: str) -> str:
        return f"@{name}:{self.server_name}"

    def close(self) -> None:
        self.process.stop()
        if self.postgres is not None:
            self.postgres.stop()
        if os.environ.get("YAKUBA_KEEP_TEST_DIR"):
            print(f"test data kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def register(self, name: str, admin: bool = False) -> str:
        """Create a user (password PASSWORD). Callable from sync code and from async tests."""
        def _run() -> str:
            return asyncio.run(setup.register_user(self.url, self.shared_secret, name, PASSWORD, admin=admin))

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            uid = _run()
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(1) as pool:
                uid = pool.submit(_run).result()
        self.users[name] = uid
        return uid


def synapse_db() -> str:
    """`sqlite` (default) or `postgres`: YAKUBA_TEST_SYNAPSE_DB picks Synapse's database."""
    db = os.environ.get("YAKUBA_TEST_SYNAPSE_DB", "sqlite") or "sqlite"
    if db not in ("sqlite", "postgres"):
        raise ValueError(f"YAKUBA_TEST_SYNAPSE_DB must be sqlite or postgres, not {db!r}")
    return db


def start_homeserver(db: str | None = None,
                     configure: Callable[[Path], None] | None = None) -> Homeserver:
    """`configure(homeserver.yaml)` may change the generated config before Synapse starts."""
    root = Path(tempfile.mkdtemp(prefix="yakuba-it-"))
    hs_port, as_port = free_port(), free_port()
    registration = root / "registration.yaml"
    reg = setup.ensure_registration(registration, SERVER_NAME, f"http://127.0.0.1:{as_port}")
    pg = None
    if (db or synapse_db()) == "postgres":
        from tests.postgres import PostgresCluster

        pg = PostgresCluster.start()
    cfg_path = synapse.generate(root / "synapse", SERVER_NAME, hs_port, registration, test_mode=True,
                                database=pg.create_database("synapse") if pg else None)
    if configure is not None:
        configure(cfg_path)
    proc = synapse.SynapseProcess(cfg_path, f"http://127.0.0.1:{hs_port}")
    try:
        proc.start()
    except BaseException:
        if pg is not None:
            pg.stop()
        raise
    hs = Homeserver(root, f"http://127.0.0.1:{hs_port}", SERVER_NAME, as_port, registration,
                    synapse.read_config(cfg_path)["registration_shared_secret"], reg["as_token"],
                    reg["hs_token"], proc, postgres=pg)
    try:
        from appservice.matrix.client import MatrixClient

        async def _bots() -> None:
            client = MatrixClient(hs.url, hs.as_token, f"@_yakuba:{SERVER_NAME}",
                                  as_sender=f"@_yakuba_appservice:{SERVER_NAME}")
            for lp in ("_yakuba", "_yakuba_archive"):
                await client.register_appservice_user(lp)
            await client.close()
            admin_token = await setup.login(hs.url, "admin", PASSWORD)
            await setup.make_server_admin(hs.url, admin_token, f"@_yakuba:{SERVER_NAME}")

        for name in ("alice", "bob", "carol"):
            hs.register(name)
        hs.register("admin", admin=True)
        asyncio.run(_bots())
        return hs
    except BaseException:
        hs.close()
        raise


@dataclass
class YakubaProcess:
    hs: Homeserver
    config_path: Path
    data_dir: Path
    clock_file: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.hs.as_port}"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "yakuba.db"

    def start(self, timeout_s: float = 30.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "appservice.app.cli", "--config", str(self.config_path), "run"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"yakuba exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1):
                    pass
                if self.query("SELECT value FROM kv WHERE key = 'admin_room'"):
                    return
            except (OSError, ConnectionError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"yakuba did not come up:\n{self.log_tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=20)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import sqlite3

        if not self.db_path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return conn.execute(sql, params).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()

    def set_clock(self, iso: str | None) -> None:
        if iso is None:
            self.clock_file.unlink(missing_ok=True)
        else:
            self.clock_file.write_text(iso)


def write_yakuba_config(hs: Homeserver, data_dir: Path, extra: dict[str, Any] | None = None) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    cfg: dict[str, Any] = {
        "homeserver": {"url": hs.url, "server_name": hs.server_name},
        "appservice": {"id": "yakuba", "bind": "127.0.0.1", "port": hs.as_port,
                       "registration": str(hs.registration)},
        "data_dir": str(data_dir),
        "locale": "ja",
        "admins": [hs.user_id("admin")],
        "admin_room": {"encrypted": True},
        "logging": {"format": "json", "level": os.environ.get("YAKUBA_TEST_LOG_LEVEL", "info")},
        "testing": {"clock_file": str(data_dir / "clock")},
        "bots": {"plaintext_grace_seconds": 5},
    }
    # Each feature adds its test settings as tests/integration/<feature>.config.yaml.
    # "${TESTS_DIR}" in a fragment is this tests/ directory (for absolute paths to test files).
    tests_dir = str(Path(__file__).resolve().parent)
    for fragment in sorted(Path(__file__).parent.glob("integration/*.config.yaml")):
        text = fragment.read_text(encoding="utf-8").replace("${TESTS_DIR}", tests_dir)
        for key, value in (yaml.safe_load(text) or {}).items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key] = {**cfg[key], **value}
            else:
                cfg[key] = value
    for key, value in (extra or {}).items():
        cfg[key] = value
    path = data_dir / "yakuba.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return path


def start_yakuba(hs: Homeserver, extra: dict[str, Any] | None = None) -> YakubaProcess:
    data_dir = hs.root / "yakuba"
    path = write_yakuba_config(hs, data_dir, extra)
    y = YakubaProcess(hs, path, data_dir, data_dir / "clock", hs.root / "yakuba.log")
    y.set_clock(WORKING_TIME)  # tests start in working hours; quiet-hours tests move the clock
    y.start()
    return y

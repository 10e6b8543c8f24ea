"""`yakuba deploy init` output runs: the generated homeserver.yaml starts Synapse on PostgreSQL
(the throwaway cluster of tests/postgres.py), the generated SeaweedFS identities start the S3
server, `deploy bucket` makes the Object Lock bucket, `deploy first-admin` makes the first admin,
and the generated yakuba.yaml starts Yakuba with the S3 archive — all on loopback, with the
ports and --prefix moved so nothing collides with the rest of the test run. Only what Docker
itself would do (images, compose networking) is not exercised: there is no Docker daemon here.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from appservice.app.devstack import setup
from appservice.app.devstack.synapse import SynapseProcess
from tests.postgres import PostgresCluster, low_port
from tests.s3_server import SeaweedS3

pytestmark = pytest.mark.integration
SERVER = "city-a.localhost"


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def yakuba_cli(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(config), *args],
                          capture_output=True, text=True, env={**os.environ, **env}, timeout=120)


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[dict[str, object]]:
    pg = PostgresCluster.start()
    s3_base = SeaweedS3.port_block()
    out = tmp_path / "deploy"
    ports = {"synapse": low_port(), "appservice": low_port(), "replication": low_port(), "metrics": low_port()}
    res = subprocess.run([
        sys.executable, "-m", "appservice.app.cli", "deploy", "init", "--server-name", SERVER,
        "--out", str(out), "--prefix", str(out), "--synapse-port", str(ports["synapse"]),
        "--appservice-port", str(ports["appservice"]), "--replication-port", str(ports["replication"]),
        "--metrics-port", str(ports["metrics"]),
        "--postgres-port", str(pg.port), "--s3-port", str(s3_base + 3)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    s3 = SeaweedS3.start(tmp_path / "s3", base_port=s3_base, s3_config=out / "etc/seaweedfs/s3.json")
    pg.create_database("synapse")
    synapse = SynapseProcess(out / "etc/synapse/homeserver.yaml", f"http://127.0.0.1:{ports['synapse']}")
    try:
        synapse.start()
        yield {"out": out, "ports": ports, "s3": s3, "pg": pg}
    finally:
        synapse.stop()
        s3.stop()
        pg.stop()


async def _admin_invited(hs_url: str, password: str) -> list[str]:
    token = await setup.login(hs_url, "admin", password)
    import aiohttp

    async with aiohttp.ClientSession() as s, s.get(
            f"{hs_url}/_matrix/client/v3/sync", params={"timeout": "0"},
            headers={"Authorization": f"Bearer {token}"}) as r:
        body = await r.json()
    return list(body.get("rooms", {}).get("invite", {}))


def test_generated_configs_start_synapse_on_postgres_and_yakuba_with_the_s3_archive(deployment):
    out = deployment["out"]
    ports = deployment["ports"]
    assert isinstance(out, Path) and isinstance(ports, dict)
    hs_url = f"http://127.0.0.1:{ports['synapse']}"
    config = out / "etc/yakuba/yakuba.yaml"
    s3_env = env_file(out / "etc/yakuba/s3.env")
    pg = deployment["pg"]
    assert isinstance(pg, PostgresCluster)
    # Synapse really runs on the PostgreSQL database (its schema is there)
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['metrics']}/_synapse/metrics", timeout=5) as r:
        assert b"synapse_" in r.read()  # the metrics listener answers (loopback)
    tables = pg.psql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'events'", "synapse")
    assert tables.strip() == "1"

    res = yakuba_cli(config, "deploy", "bucket", env=s3_env)
    assert res.returncode == 0 and "created with Object Lock" in res.stdout, res.stdout + res.stderr
    assert "exists" in yakuba_cli(config, "deploy", "bucket", env=s3_env).stdout  # idempotent

    res = yakuba_cli(config, "deploy", "first-admin", "--synapse-config", str(out / "etc/synapse/homeserver.yaml"),
                     env=s3_env)
    assert res.returncode == 0, res.stdout + res.stderr
    password_file = out / "etc/yakuba/admin-password"
    password = password_file.read_text().strip()
    assert password not in res.stdout + res.stderr  # never printed
    assert password_file.stat().st_mode & 0o777 == 0o600

    log = (out / "yakuba.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "appservice.app.cli", "--config", str(config), "run"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **s3_env},
                            start_new_session=True)
    try:
        db = out / "var/lib/yakuba/yakuba.db"
        deadline = time.monotonic() + 60
        admin_room = None
        while time.monotonic() < deadline and admin_room is None:
            assert proc.poll() is None, (out / "yakuba.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['appservice']}/health", timeout=1):
                    pass
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as c:
                    row = c.execute("SELECT value FROM kv WHERE key = 'admin_room'").fetchone()
                admin_room = row[0] if row else None
            except (OSError, sqlite3.Error):
                pass
            time.sleep(0.2)
        assert admin_room, (out / "yakuba.log").read_text()[-3000:]
        assert admin_room in asyncio.run(_admin_invited(hs_url, password))
        text = (out / "yakuba.log").read_text()
        assert '"archive.s3_conditional_writes"' in text or "archive.s3_conditional_writes" in text
        for secret in (password, *s3_env.values()):
            if len(secret) > 12:
                assert secret not in text
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    hs = yaml.safe_load((out / "etc/synapse/homeserver.yaml").read_text())
    assert hs["database"]["name"] == "psycopg2"

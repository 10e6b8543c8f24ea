"""Yakuba, unchanged, against Synapse with a worker: main process + one generic worker on
PostgreSQL, replication over Redis (Debian's redis-server; .ci/run installs it).

The layout is deploy/'s: clients reach the worker for login, room creation, sending and sync
(what the generated Caddyfile routes there); Yakuba talks to the main process (client and
admin API). Appservice transactions are sent by the worker (`notify_appservices_from_worker`),
so the test also proves Yakuba needs nothing from the process that pushes to it:
- every event a user sends through the worker reaches Yakuba exactly once;
- the admin API still answers: `!yakuba lock` (admin API on the main process) locks a user,
  and the worker refuses that user's next login — the lock crossed processes through Redis.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.admin_room import admin_client, command
from tests.integration.mx import MatrixError, User, wait_for
from tests.postgres import low_port
from tests.stack import Homeserver, YakubaProcess, start_homeserver, start_yakuba

pytestmark = pytest.mark.integration
WORKER = "generic1"


def redis_server() -> str:
    found = shutil.which("redis-server")
    if not found:
        pytest.fail("redis-server not installed (apt-get install redis-server; .ci/run does it)")
    return found


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise TimeoutError(f"{what} did not answer at {url}")


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def add_worker(config_path: Path, redis_port: int, replication_port: int, worker_port: int) -> Path:
    """Turn the generated single-process config into main + one generic worker (the settings
    yakuba deploy init writes with --workers), and write the worker's own file."""
    cfg = yaml.safe_load(config_path.read_text())
    cfg["listeners"].append({"port": replication_port, "bind_addresses": ["127.0.0.1"], "type": "http",
                             "resources": [{"names": ["replication"]}]})
    cfg["instance_map"] = {"main": {"host": "127.0.0.1", "port": replication_port}}
    cfg["redis"] = {"enabled": True, "host": "127.0.0.1", "port": redis_port}
    cfg["worker_replication_secret"] = "test-replication-secret"
    cfg["notify_appservices_from_worker"] = WORKER
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    log_cfg = yaml.safe_load(Path(cfg["log_config"]).read_text())
    log_cfg["handlers"]["file"]["filename"] = str(config_path.parent / f"{WORKER}.log")
    worker_log = config_path.parent / f"{WORKER}.log.config"
    worker_log.write_text(yaml.safe_dump(log_cfg))
    worker = config_path.parent / f"{WORKER}.yaml"
    worker.write_text(yaml.safe_dump({
        "worker_app": "synapse.app.generic_worker", "worker_name": WORKER,
        "worker_listeners": [{"type": "http", "port": worker_port, "bind_addresses": ["127.0.0.1"],
                              "resources": [{"names": ["client"]}]}],
        "worker_log_config": str(worker_log)}))
    return worker


class WorkerStack:
    def __init__(self) -> None:
        self.redis: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.hs: Homeserver | None = None
        self.yakuba: YakubaProcess | None = None
        self.worker_url = ""

    def start(self) -> None:
        redis_port, replication_port, worker_port = low_port(), low_port(), low_port()
        self.redis = subprocess.Popen(
            [redis_server(), "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        config_path: Path | None = None

        def before_start(path: Path) -> None:
            nonlocal config_path
            config_path = path
            add_worker(path, redis_port, replication_port, worker_port)

        self.hs = start_homeserver("postgres", configure=before_start)
        assert config_path is not None
        self.worker_url = f"http://127.0.0.1:{worker_port}"
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.generic_worker", "-c", str(config_path),
             "-c", str(config_path.parent / f"{WORKER}.yaml")],
            cwd=config_path.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_http(self.worker_url + "/_matrix/client/versions", self.worker, "the Synapse worker")
        self.yakuba = start_yakuba(self.hs)

    def worker_log(self) -> str:
        assert self.hs is not None
        path = self.hs.root / "synapse" / f"{WORKER}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def close(self) -> None:
        if self.yakuba is not None:
            self.yakuba.stop()
        stop(self.worker)
        if self.hs is not None:
            self.hs.close()
        stop(self.redis)


@pytest.fixture(scope="module")
def workers() -> Iterator[WorkerStack]:
    stack = WorkerStack()
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


async def test_yakuba_works_unchanged_with_a_synapse_worker_and_redis(workers: WorkerStack):
    hs, yakuba = workers.hs, workers.yakuba
    assert hs is not None and yakuba is not None
    hs.register("w_staff")
    # A member of staff on the worker: login, a room, messages.
    staff = await User.login(workers.worker_url, "w_staff")
    room = await staff.create_room(name="ワーカー経由")
    sent = [await staff.send_text(room, f"ワーカー経由のメッセージ {i}") for i in range(5)]

    def processed(event_id: str) -> list[tuple[int, str]]:
        return yakuba.query("SELECT times_processed, status FROM inbox WHERE event_id = ?", (event_id,))

    for ev in sent:
        await wait_for(lambda ev=ev: processed(ev) == [(1, "done")], timeout=30, what=f"{ev} processed")
    # transactions arrived once: each event once in the inbox, processed once, audited once
    for ev in sent:
        assert yakuba.query("SELECT COUNT(*) FROM audit WHERE action = 'event' AND event_id = ?", (ev,)) == [(1,)]
    # … and they came from the worker, not the main process
    assert "_matrix/app/v1/transactions" in workers.worker_log()

    # The admin API still answers: a lock through the admin room (main process) is seen by the worker.
    admin, admin_room = await admin_client(yakuba, hs)
    try:
        await command(admin, admin_room, f"!yakuba lock {hs.user_id('w_staff')} 端末紛失", expect=hs.user_id("w_staff"))
    finally:
        await admin.close()

    async def login_refused() -> str | None:
        try:
            await User.login(workers.worker_url, "w_staff")
        except MatrixError as exc:
            return exc.errcode
        return None

    assert await wait_for(login_refused, timeout=20, what="the worker refuses the locked user") == "M_USER_LOCKED"

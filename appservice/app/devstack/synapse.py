"""Generate, start and stop a local Synapse (SQLite, 127.0.0.1 only).

Generation runs Synapse's own `--generate-config` (so keys and defaults are Synapse's), then
rewrites the parts Yakuba needs: loopback listener, no federation, no registration, the
appservice registration, raised rate limits (bots and bulk jobs are legitimately busy).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from appservice.lib.secret_files import private_dir

RATE_UNLIMITED = {"per_second": 1000, "burst_count": 1000}
# Flat limits, and limits with sub-keys (Synapse's config names).
RATE_FLAT = ("rc_message", "rc_registration", "rc_admin_redaction", "rc_3pid_validation",
             "rc_room_creation", "rc_key_requests", "rc_joins_per_room", "rc_media_create")
RATE_NESTED = {"rc_login": ("address", "account", "failed_attempts"),
               "rc_joins": ("local", "remote"),
               "rc_invites": ("per_room", "per_user", "per_issuer")}


def generate(data_dir: Path, server_name: str, port: int, registration: Path,
             *, test_mode: bool = False,
             database: dict[str, Any] | None = None,
             federation: dict[str, Any] | None = None) -> Path:
    """Create data_dir/homeserver.yaml once; later calls keep the existing file.
    `database`: Synapse's `database:` section (e.g. psycopg2 for PostgreSQL); default SQLite."""
    config_path = data_dir / "homeserver.yaml"
    if config_path.exists():
        return config_path
    private_dir(data_dir)  # Synapse's database, media and signing key live here
    subprocess.run(
        [sys.executable, "-m", "synapse.app.homeserver", "--server-name", server_name,
         "--config-path", str(config_path), "--data-directory", str(data_dir),
         "--generate-config", "--report-stats=no"],
        check=True, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cfg: dict[str, Any] = yaml.safe_load(config_path.read_text())
    cfg["listeners"] = [{
        "port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
        "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}],
    }]
    cfg["database"] = database or {"name": "sqlite3", "args": {"database": str(data_dir / "homeserver.db")}}
    cfg["media_store_path"] = str(data_dir / "media_store")
    cfg["log_config"] = str(_write_log_config(data_dir, server_name))
    cfg.update({
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "enable_registration": False,
        "app_service_config_files": [str(registration)],
        "registration_shared_secret": cfg.get("registration_shared_secret") or secrets.token_urlsafe(32),
        "federation_domain_whitelist": [],
        "report_stats": False,
        "url_preview_enabled": False,
        "experimental_features": {"msc3266_enabled": True},
    })
    for key in RATE_FLAT:
        cfg[key] = RATE_UNLIMITED
    for key, subkeys in RATE_NESTED.items():
        cfg[key] = {k: RATE_UNLIMITED for k in subkeys}
    if test_mode:
        cfg["rc_message"] = {"per_second": 10000, "burst_count": 10000}
    if federation is not None:  # devstack/federation.py synapse_settings(): a TLS listener + allow-list
        fed = dict(federation)
        cfg["listeners"].append(fed.pop("listener"))
        cfg.update(fed)
        cfg["rc_federation"] = {"window_size": 1000, "sleep_limit": 1000, "sleep_delay": 0,
                                "reject_limit": 1000, "concurrent": 100}
    config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    os.chmod(config_path, 0o600)  # holds registration_shared_secret and macaroon key
    return config_path


def _write_log_config(data_dir: Path, server_name: str) -> Path:
    path = data_dir / f"{server_name}.log.config"
    path.write_text(yaml.safe_dump({
        "version": 1,
        "formatters": {"precise": {
            "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s"}},
        "handlers": {"file": {"class": "logging.handlers.RotatingFileHandler", "formatter": "precise",
                              "filename": str(data_dir / "homeserver.log"), "maxBytes": 20_000_000,
                              "backupCount": 2, "encoding": "utf8"}},
        "loggers": {"synapse.storage.SQL": {"level": "WARNING"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }))
    os.chmod(path, 0o600)
    return path


def read_config(config_path: Path) -> dict[str, Any]:
    return yaml.safe_load(config_path.read_text())


class SynapseProcess:
    def __init__(self, config_path: Path, base_url: str) -> None:
        self.config_path = config_path
        self.base_url = base_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        data_dir = self.config_path.parent
        out = (data_dir / "synapse.stdout").open("ab")
        os.chmod(data_dir / "synapse.stdout", 0o600)
        self.proc = subprocess.Popen(
            # The launcher is `synapse.app.homeserver` with *.localhost resolving to loopback
            # (devstack/synapse_launch.py), so local Synapses can federate by name.
            [sys.executable, "-m", "appservice.app.devstack.synapse_launch", "-c", str(self.config_path)],
            cwd=data_dir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.proc.returncode}; see {data_dir}/homeserver.log")
            try:
                with urllib.request.urlopen(self.base_url + "/_matrix/client/versions", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"Synapse did not answer within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

"""`yakuba deploy init`: what it writes, checked file by file (the generated configs are started
for real in tests/integration/test_deploy_generated.py). Docker is not available here (client
only, no daemon, no compose plugin), so compose.yaml is validated structurally."""

from __future__ import annotations

import configparser
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from appservice.app.cli import main
from appservice.app.config import load_config

SERVER = "city-a.example.lg.jp"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    d = tmp_path / "deploy"
    # --prefix: the paths inside the files point into the output (default /etc/…, /var/lib/…)
    assert main(["deploy", "init", "--server-name", SERVER, "--out", str(d), "--public-host", "matrix." + SERVER,
                 "--admin", "it-admin", "--prefix", str(d)]) == 0
    return d


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


SECRETS = ["etc/postgres/password", f"etc/synapse/{SERVER}.signing.key", "etc/synapse/homeserver.yaml",
           "etc/yakuba/registration.yaml", "etc/yakuba/yakuba.yaml", "etc/yakuba/s3.env",
           "etc/seaweedfs/s3.json"]


def test_secrets_are_0600_and_fresh_each_time(out: Path, tmp_path: Path) -> None:
    for rel in SECRETS:
        assert stat.S_IMODE((out / rel).stat().st_mode) == 0o600, rel
    other = tmp_path / "other"
    assert main(["deploy", "init", "--server-name", SERVER, "--out", str(other)]) == 0
    for rel in ["etc/postgres/password", "etc/yakuba/registration.yaml", "etc/yakuba/s3.env"]:
        assert (out / rel).read_text() != (other / rel).read_text(), rel
    a, b = load(out / "etc/synapse/homeserver.yaml"), load(other / "etc/synapse/homeserver.yaml")
    for key in ("registration_shared_secret", "macaroon_secret_key", "form_secret", "worker_replication_secret"):
        assert len(a[key]) >= 32 and a[key] != b[key], key


def test_an_existing_deployment_is_never_overwritten(out: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (out / "etc/yakuba/registration.yaml").read_text()
    assert main(["deploy", "init", "--server-name", SERVER, "--out", str(out)]) == 1
    assert "refusing" in capsys.readouterr().err
    assert (out / "etc/yakuba/registration.yaml").read_text() == before


def test_bad_server_name_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["deploy", "init", "--server-name", "City A!", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2


def test_homeserver_has_the_municipal_settings(out: Path) -> None:
    hs = load(out / "etc/synapse/homeserver.yaml")
    assert hs["server_name"] == SERVER and hs["public_baseurl"] == f"https://matrix.{SERVER}/"
    assert hs["database"]["name"] == "psycopg2" and hs["database"]["args"]["host"] == "127.0.0.1"
    assert hs["database"]["args"]["password"] == (out / "etc/postgres/password").read_text().strip()
    assert all(b == ["127.0.0.1"] for b in (lst["bind_addresses"] for lst in hs["listeners"]))
    assert hs["federation_domain_whitelist"] == [] and hs["trusted_key_servers"] == []
    assert hs["redaction_retention_period"] == "1d"
    assert hs["push"] == {"include_content": False}
    assert hs["user_directory"] == {"enabled": True, "search_all_users": True, "prefer_local_users": True}
    admin = f"@it-admin:{SERVER}"
    assert hs["room_list_publication_rules"] == [{"user_id": admin, "action": "allow"}, {"action": "deny"}]
    assert hs["alias_creation_rules"][0] == {"user_id": admin, "action": "allow"}
    assert hs["alias_creation_rules"][-1] == {"action": "deny"}
    assert hs["server_notices"]["system_mxid_localpart"] == "notices"
    assert hs["enable_registration"] is False and hs["url_preview_enabled"] is False
    assert hs["rc_login"]["failed_attempts"]["burst_count"] <= 5
    assert hs["retention"] == {"enabled": False}
    assert hs["redis"]["enabled"] is False  # no worker unless --workers
    text = (out / "etc/synapse/homeserver.yaml").read_text()
    assert "oidc_providers:" in text and "ldap_auth_provider" in text  # sign-in examples
    assert "federation.partners" in text and "yakuba" in text and "federation" in text


def test_signing_key_is_one_synapse_can_read(out: Path) -> None:
    from signedjson.key import read_signing_keys

    with (out / f"etc/synapse/{SERVER}.signing.key").open() as f:
        (key,) = read_signing_keys(f)
    assert key.alg == "ed25519" and key.version.startswith("a_")


def test_yakuba_yaml_loads_and_points_at_the_generated_registration(out: Path) -> None:
    cfg = load_config(out / "etc/yakuba/yakuba.yaml")
    reg = load(out / "etc/yakuba/registration.yaml")
    assert cfg.homeserver.server_name == SERVER and cfg.admins == (f"@it-admin:{SERVER}",)
    assert cfg.appservice.as_token == reg["as_token"] and cfg.appservice.hs_token == reg["hs_token"]
    assert reg["url"] == "http://127.0.0.1:9009" and reg["rate_limited"] is False
    assert cfg.log_format == "json" and cfg.federation.partners == ()
    retention = cfg.feature("retention")
    assert retention["backend"] == "s3" and retention["s3"]["lock_mode"] == "COMPLIANCE"
    # S3 credentials are in s3.env (the standard AWS variables), not in yakuba.yaml
    env = (out / "etc/yakuba/s3.env").read_text()
    assert "AWS_ACCESS_KEY_ID=" in env and "AWS_SECRET_ACCESS_KEY=" in env
    assert "AWS" not in (out / "etc/yakuba/yakuba.yaml").read_text()
    s3_keys = load(out / "etc/seaweedfs/s3.json")["identities"][0]["credentials"][0]
    assert f"AWS_SECRET_ACCESS_KEY={s3_keys['secretKey']}" in env


def test_compose_is_structurally_sound(out: Path) -> None:
    compose = load(out / "compose.yaml")
    services = compose["services"]
    assert {"postgres", "synapse", "yakuba", "caddy", "s3", "redis", "synapse-worker1"} <= set(services)
    for name, svc in services.items():
        assert svc["network_mode"] == "host", name
        assert "image" in svc, name
        for dep in svc.get("depends_on", []):
            assert dep in services, (name, dep)
        for volume in svc.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./") and "element-web" not in source:  # Element: supplied by the operator
                assert (out / source).exists(), (name, source)
        for env_file in svc.get("env_file", []):
            assert (out / env_file).exists(), (name, env_file)
    assert set(services["redis"]["profiles"]) == {"workers"}
    text = (out / "compose.yaml").read_text()
    for rel in ("etc/postgres/password",):
        assert (out / rel).read_text().strip() not in text  # secrets stay in files
    assert "POSTGRES_PASSWORD_FILE" in text
    assert "--locale=C" in services["postgres"]["environment"]["POSTGRES_INITDB_ARGS"]


def test_caddy_publishes_synapse_only(out: Path) -> None:
    text = (out / "Caddyfile").read_text()
    proxied = [line.split()[-1] for line in text.splitlines() if line.strip().startswith("reverse_proxy")]
    assert proxied and all(p == "127.0.0.1:8008" for p in proxied)  # never Yakuba's 9009
    assert "/_synapse/admin" not in text.replace("never\n# /_synapse/admin", "")


def test_systemd_units_parse(out: Path) -> None:
    for unit in sorted((out / "systemd").glob("*.service")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(unit.read_text().replace("\\\n", " "))
        assert {"Unit", "Service", "Install"} <= set(parser.sections()), unit.name
        exec_start = parser["Service"]["ExecStart"]
        assert exec_start.startswith("/opt/"), unit.name
        assert parser["Service"].get("User") not in (None, "root"), unit.name


def test_workers_flag_turns_on_redis_and_routes_the_worker(tmp_path: Path) -> None:
    d = tmp_path / "w"
    assert main(["deploy", "init", "--server-name", SERVER, "--out", str(d), "--workers"]) == 0
    hs = load(d / "etc/synapse/homeserver.yaml")
    assert hs["redis"]["enabled"] is True and hs["instance_map"]["main"]["port"] == 9093
    worker = load(d / "etc/synapse/workers/generic1.yaml")
    assert worker["worker_app"] == "synapse.app.generic_worker" and worker["worker_name"] == "generic1"
    assert "reverse_proxy @worker 127.0.0.1:8083" in (d / "Caddyfile").read_text()

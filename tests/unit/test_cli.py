"""The `yakuba` console script's wiring: each subcommand reaches its feature with the config."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml


def yakuba(config: Path | None, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "appservice.app.cli"] + (["--config", str(config)] if config else []) + list(args)
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60)


def write_config(tmp_path: Path, **extra) -> Path:
    reg = tmp_path / "registration.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    path = tmp_path / "yakuba.yaml"
    path.write_text(yaml.safe_dump({"homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
                                    "appservice": {"registration": "registration.yaml"}, "data_dir": ".",
                                    **extra}, allow_unicode=True))
    return path


def test_calendar_check_exit_codes_and_json(tmp_path):
    cfg = write_config(tmp_path)
    off = yakuba(cfg, "calendar", "check", "2027-01-02 10:00")
    assert off.returncode == 1 and "年末年始" in off.stdout
    on = yakuba(cfg, "calendar", "check", "2026-11-25 10:00", "--json")
    assert on.returncode == 0 and json.loads(on.stdout)["working"] is True
    bad = yakuba(cfg, "calendar", "check", "not a date")
    assert bad.returncode == 2 and bad.stderr


def test_scan_reads_stdin_and_jsonl_without_a_config(tmp_path):
    out = yakuba(None, "scan", stdin="マイナンバー 1234-5678-9018")
    finding = json.loads(out.stdout)["findings"][0]
    assert finding["kind"] == "my_number" and "1234" not in out.stdout
    lines = yakuba(None, "scan", "--jsonl", stdin='{"id": 7, "text": "電話 090-1234-5678"}\nnot json\n')
    rows = [json.loads(x) for x in lines.stdout.splitlines()]
    assert rows[0]["id"] == 7 and rows[0]["findings"][0]["kind"] == "phone" and "error" in rows[1]


def test_archive_verify_on_an_empty_archive(tmp_path):
    cfg = write_config(tmp_path)
    out = yakuba(cfg, "archive", "verify")
    assert out.returncode == 0, out.stderr


def test_config_errors_are_reported_not_raised(tmp_path):
    cfg = write_config(tmp_path, locale="fr")
    out = yakuba(cfg, "calendar", "check", "2027-01-02 10:00")
    assert out.returncode == 2 and "locale: expected one of ja, en" in out.stderr
    missing = yakuba(tmp_path / "nope.yaml", "admin", "list")
    assert missing.returncode == 2 and "config file not found" in missing.stderr

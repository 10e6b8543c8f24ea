"""[trust] Inputs: what Yakuba reads from files it does not own must not leak or crash it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from appservice.app.config import load_registration_tokens
from appservice.core.configerror import ConfigError
from appservice.core.decisions import Effect
from appservice.features.offboarding import auditlog
from appservice.lib.archive import verify

from .test_retention_support import (
    ROOM,
    TS,
    Harness,
    event,
    fresh_logging,  # noqa: F401  (autouse fixture)
    harness,
    raw_of,
    room_state,
)

TOKEN = "as_SECRET_TOKEN_0123456789abcdef"
HS_TOKEN = "hs_SECRET_TOKEN_fedcba9876543210"


BROKEN = {
    # PyYAML's message quotes the line of the error (and of its context), token included.
    "colon": f"id: yakuba\nas_token: {TOKEN}: x\nhs_token: {HS_TOKEN}\n",
    "quote": f"id: yakuba\nhs_token: {HS_TOKEN}\nas_token: \"{TOKEN}\n",
    "alias": f"id: yakuba\nhs_token: {HS_TOKEN}\nas_token: *{TOKEN}\n",
}


def broken_registration(tmp_path: Path, kind: str = "colon") -> Path:
    reg = tmp_path / "registration.yaml"
    reg.write_text(BROKEN[kind], encoding="utf-8")
    return reg


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_registration_syntax_error_names_position_not_the_secret(tmp_path, monkeypatch, kind):
    monkeypatch.delenv("YAKUBA_AS_TOKEN", raising=False)
    monkeypatch.delenv("YAKUBA_HS_TOKEN", raising=False)
    with pytest.raises(ConfigError) as info:
        load_registration_tokens(broken_registration(tmp_path, kind))
    message = str(info.value)
    assert TOKEN not in message and HS_TOKEN not in message
    assert "SECRET" not in message
    assert message.startswith("appservice.registration: not valid YAML")
    assert "line " in message and "column " in message
    if kind == "colon":
        assert "line 2, column 43" in message and "mapping values are not allowed here" in message
    # The YAMLError (which quotes the file) is not chained either: a traceback would print it.
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_yakuba_run_does_not_echo_the_registration(tmp_path):
    broken_registration(tmp_path)
    cfg = tmp_path / "yakuba.yaml"
    cfg.write_text(yaml.safe_dump({"homeserver": {"url": "http://127.0.0.1:9", "server_name": "city-a.localhost"},
                                   "appservice": {"registration": "registration.yaml"}, "data_dir": "."}))
    env = {k: v for k, v in os.environ.items() if k not in ("YAKUBA_AS_TOKEN", "YAKUBA_HS_TOKEN")}
    out = subprocess.run([sys.executable, "-m", "appservice.app.cli", "--config", str(cfg), "run"],
                         capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2, out.stderr
    assert "appservice.registration: not valid YAML" in out.stderr
    assert "SECRET" not in out.stderr and "SECRET" not in out.stdout


# -- 2. archive records: the sender's origin_server_ts is a claim, bounded by when we got it ------

RECEIVED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # 12:00 JST, FY2026
MS_9999 = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp() * 1000)


@pytest.fixture
async def h(tmp_path: Path):
    hs = await harness(tmp_path)
    hs.client.states[ROOM] = room_state()
    yield hs
    await hs.close()


def archive_effect(kind: str = "message") -> Effect:
    return Effect(kind="archive", payload={"room_id": ROOM, "kind": kind})


@pytest.mark.parametrize("claimed", [10**18, -5, MS_9999])
async def test_hostile_origin_server_ts_is_archived_by_received_time(h: Harness, claimed: int) -> None:
    ev = event(ts=claimed)
    await h.services.inbox.put_transaction("t1", [raw_of(ev)])
    await h.db.execute("UPDATE inbox SET received_at = ? WHERE event_id = ?", (RECEIVED.timestamp(), ev.event_id))
    await h.rt.on_archive(archive_effect(), ev, h.services)  # no exception: not retried forever
    [rec] = h.records()
    assert rec["received_at"] == "2026-11-25T03:00:00.000+00:00"
    assert rec["ts_utc"] == rec["received_at"] and rec["ts_jst"].startswith("2026-11-25")
    assert rec["ts_claimed"] == (claimed if abs(claimed) <= 2**53 else str(claimed))
    assert await h.rt.tables.retry_count() == 0
    assert verify(h.rt.store).ok
    # The segment is in the fiscal year it was received in, so it falls due like its neighbours.
    [seg] = h.rt.store._state(ROOM).segments
    assert seg.max_fy == 2026


async def test_sane_ts_is_kept_and_received_at_recorded(h: Harness) -> None:
    ev = event(ts=int(RECEIVED.timestamp() * 1000) - 1500)
    await h.services.inbox.put_transaction("t1", [raw_of(ev)])
    await h.db.execute("UPDATE inbox SET received_at = ? WHERE event_id = ?", (RECEIVED.timestamp(), ev.event_id))
    await h.rt.on_archive(archive_effect(), ev, h.services)
    [rec] = h.records()
    assert rec["ts_utc"] == "2026-11-25T02:59:58.500+00:00" and rec["ts_claimed"] is None
    assert rec["received_at"] == "2026-11-25T03:00:00.000+00:00"


async def test_without_an_inbox_row_received_at_is_now(h: Harness) -> None:
    # Backfilled history never went through the inbox: received now, old ts is fine.
    ev = event(ts=TS)
    before = datetime.now(UTC)
    await h.rt.archive_event(ev, "message")
    [rec] = h.records()
    got = datetime.fromisoformat(rec["received_at"])
    assert before - timedelta(seconds=1) <= got <= datetime.now(UTC) + timedelta(seconds=1)
    assert rec["ts_claimed"] is None and rec["ts_utc"].startswith("2025-11-21")
    future = event(ts=int((datetime.now(UTC) + timedelta(days=2)).timestamp() * 1000), event_id="$f")
    await h.rt.archive_event(future, "message")
    assert h.records()[1]["ts_claimed"] == future.origin_server_ts
    assert verify(h.rt.store).ok


# -- 3. the audit-log CSV uses the archive's formula guard (full-width included) ----------------

@pytest.mark.parametrize("cell", ["=1+1", "+81", "-1", "@SUM(A1)", "\tx", "\rx",
                                  "＝1+1", "＋81", "－1", "＠SUM(A1)", "＠bob:city-a.localhost",
                                  "@Bob:city-a.localhost", "@bob:city-a.localhost=cmd|' /C calc'!A0 x"])
def test_audit_csv_guards_formulas(cell: str) -> None:
    assert auditlog._cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["@bob:city-a.localhost", "@_yakuba:city-a.localhost", "普通", "", "12"])
def test_audit_csv_keeps_strict_user_ids_and_plain_text(cell: str) -> None:
    assert auditlog._cell(cell) == cell


def test_audit_csv_file_guards_full_width() -> None:
    row = {"id": 1, "ts": 0, "action": "＝HYPERLINK(\"http://x\")", "actor": "@bob:city-a.localhost",
           "target": "＠evil", "room_id": None, "event_id": None, "result": "ok", "details": "－2"}
    text = auditlog.audit_csv([row], UTC).decode("utf-8")
    assert "'＝HYPERLINK" in text and ",@bob:city-a.localhost," in text and "'＠evil" in text and "'－2" in text

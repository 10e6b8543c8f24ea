"""Plaintext at rest: what stays in yakuba.db once an event is processed, how long rows live,
and the modes of the files Yakuba writes (docs/data-kept.md)."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from appservice.core.db import Database
from appservice.core.decisions import Audit
from appservice.core.inbox import Inbox
from appservice.features.retention import FEATURE as RETENTION_FEATURE

BOTS = ("@_yakuba:city-a.localhost", "@_yakuba_archive:city-a.localhost")
MY_NUMBER = "123456789018"  # a valid-looking 12-digit My Number (check digit ok)
BODY = f"私のマイナンバーは {MY_NUMBER} です"


def message(event_id: str, body: str = BODY, room: str = "!r:city-a.localhost") -> dict:
    return {"event_id": event_id, "room_id": room, "type": "m.room.message",
            "sender": "@alice:city-a.localhost", "origin_server_ts": 1700000000000,
            "content": {"msgtype": "m.text", "body": body}}


def ciphertext(event_id: str, room: str) -> dict:
    return {"event_id": event_id, "room_id": room, "type": "m.room.encrypted",
            "sender": "@alice:city-a.localhost", "origin_server_ts": 1700000000000,
            "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAC0kR4", "session_id": "s1"}}


def bot_join(room: str) -> dict:
    return {"event_id": f"$join{room}", "room_id": room, "type": "m.room.member", "state_key": BOTS[0],
            "sender": BOTS[0], "origin_server_ts": 1, "content": {"membership": "join", "displayname": "Yakuba"}}


async def process_all(inbox: Inbox) -> list[str]:
    done = []
    for item in await inbox.next_batch():
        await inbox.mark_done(item.seq)
        done.append(item.event.event_id)
    return done


def disk_bytes(path: Path) -> bytes:
    """The database as it is on disk: the main file and its WAL, read raw."""
    out = b""
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            out += p.read_bytes()
    return out


async def stored_json(db: Database, event_id: str) -> dict:
    row = await db.fetchone("SELECT json FROM inbox WHERE event_id = ?", (event_id,))
    assert row is not None
    return json.loads(row["json"])


@pytest.fixture
async def db(tmp_path):
    d = Database(tmp_path / "yakuba.db")
    await d.open()
    yield d
    d.close()


async def test_processed_body_leaves_the_database_file(tmp_path, db):
    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [message("$mn")] + [message(f"$x{i}", "普通の会話です") for i in range(50)])
    # Stored durably before the 200: the body is on disk now.
    assert MY_NUMBER.encode() in disk_bytes(db.path)
    assert "$mn" in await process_all(inbox)
    # The row is a skeleton at once …
    skeleton = await stored_json(db, "$mn")
    assert skeleton["content"] == {} and skeleton["event_id"] == "$mn"
    assert skeleton["sender"] == "@alice:city-a.localhost" and skeleton["type"] == "m.room.message"
    # … and after a checkpoint (the housekeeping pass runs one) not a byte of it is left on disk:
    # not in the main file's free space (secure_delete), not in the WAL.
    await db.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    raw = disk_bytes(db.path)
    assert MY_NUMBER.encode() not in raw
    assert "マイナンバー".encode() not in raw and "普通の会話".encode() not in raw


async def test_housekeeping_pass_clears_the_wal(tmp_path, db):
    from appservice.core.housekeeping import Limits, run_once

    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [message("$mn")])
    await process_all(inbox)
    await run_once(db, inbox, Limits())
    assert MY_NUMBER.encode() not in disk_bytes(db.path)


async def test_member_skeleton_keeps_membership_only(db):
    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [bot_join("!a:x")])
    await process_all(inbox)
    sk = await stored_json(db, "$join!a:x")
    assert sk["content"] == {"membership": "join"} and sk["state_key"] == BOTS[0]


async def test_dedupe_still_works_after_stripping(db):
    inbox = Inbox(db, BOTS)
    await inbox.put_transaction("t1", [message("$a"), message("$b")])
    assert await process_all(inbox) == ["$a", "$b"]
    assert (await stored_json(db, "$a"))["content"] == {}
    # Synapse retries the transaction (or sends the event again in another): recognised by id.
    r = await inbox.put_transaction("t1", [message("$a"), message("$b")])
    r2 = await inbox.put_transaction("t2", [message("$a"), message("$c")])
    assert (r.new, r.duplicate, r2.new, r2.duplicate) == (0, 2, 1, 1)
    assert [i.event.event_id for i in await inbox.next_batch()] == ["$c"]


async def test_ciphertext_kept_until_upgraded_then_plaintext_stripped(db):
    inbox = Inbox(db, BOTS)
    room = "!enc:city-a.localhost"
    await inbox.put_transaction("t1", [bot_join(room), ciphertext("$e", room)])
    await process_all(inbox)  # the member event; $e waits for its plaintext
    assert (await stored_json(db, "$e"))["content"]["ciphertext"] == "AwgAEnAC0kR4"
    # Nobody decrypted it in time: processed as ciphertext, which is kept for a late key.
    await db.execute("UPDATE inbox SET received_at = received_at - 3600 WHERE event_id = '$e'")
    assert await inbox.release_waiting(60) == 1
    assert await process_all(inbox) == ["$e"]
    assert (await stored_json(db, "$e"))["content"]["ciphertext"] == "AwgAEnAC0kR4"
    # The undecryptable retry still finds the ciphertext (bots/runtime.py's query).
    await inbox.note_undecryptable("$e", room, "s1", "@alice:city-a.localhost")
    rows = await db.fetchall("SELECT i.json FROM undecryptable u JOIN inbox i USING (event_id) "
                             "WHERE u.resolved_at IS NULL")
    assert json.loads(rows[0]["json"])["type"] == "m.room.encrypted"
    # The key arrives: the plaintext upgrades the row, is processed, and is then stripped.
    assert await inbox.put_decrypted(message("$e", room=room)) is True
    assert await process_all(inbox) == ["$e"]
    sk = await stored_json(db, "$e")
    assert sk["content"] == {} and sk["type"] == "m.room.message"
    assert await inbox.put_decrypted(message("$e", room=room)) is False
    await db.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
    assert MY_NUMBER.encode() not in disk_bytes(db.path)


async def test_content_held_while_a_retry_is_pending(tmp_path):
    """The archive re-reads an event from the inbox to retry a failed write: its content stays
    while the retry row exists, and the housekeeping pass strips it once the retry is gone."""
    from appservice.core.housekeeping import Limits, run_once
    from appservice.features.retention.tables import TABLES as RETENTION

    db = Database(tmp_path / "yakuba.db", (RETENTION,))
    await db.open()
    try:
        inbox = Inbox(db, BOTS, content_holds=RETENTION_FEATURE.content_holds)  # as the service builds it
        await inbox.put_transaction("t1", [message("$r"), message("$s")])
        await db.execute("INSERT INTO retention_retry (event_id, room_id, kind, attempts, next_at, "
                         "first_failed) VALUES ('$r', '!r:city-a.localhost', 'message', 1, 0, 0)")
        await process_all(inbox)
        assert (await stored_json(db, "$r"))["content"]["body"] == BODY
        assert (await stored_json(db, "$s"))["content"] == {}
        await run_once(db, inbox, Limits())
        assert (await stored_json(db, "$r"))["content"]["body"] == BODY  # still held
        await db.execute("DELETE FROM retention_retry WHERE event_id = '$r'")
        await run_once(db, inbox, Limits())
        assert (await stored_json(db, "$r"))["content"] == {}
        assert MY_NUMBER.encode() not in disk_bytes(db.path)
    finally:
        db.close()


async def test_housekeeping_deletes_old_rows_and_keeps_young_ones(db):
    from appservice.core.housekeeping import Limits, run_once

    inbox = Inbox(db, BOTS)
    day = 86400.0
    now = time.time()
    await inbox.put_transaction("old-txn", [message("$old"), message("$young"), message("$pending"),
                                            {"garbage": True}])
    await process_all(inbox)
    await inbox.put_transaction("new-txn", [message("$later")])  # pending, never processed

    def age(c):
        c.execute("UPDATE inbox SET received_at = ? WHERE event_id IN ('$old', '$later')", (now - 8 * day,))
        c.execute("UPDATE inbox SET received_at = ? WHERE event_id = '$young'", (now - 6 * day,))
        c.execute("UPDATE inbox_txns SET received_at = ? WHERE txn_id = 'old-txn'", (now - 8 * day,))
        c.execute("UPDATE inbox_rejected SET received_at = ?", (now - 8 * day,))
        c.execute("INSERT INTO undecryptable (event_id, room_id, first_seen) VALUES ('$u', '!r:x', ?)",
                  (now - 8 * day,))
        rows = [(now - 401 * day, "ancient"), (now - 399 * day, "recent")]
        c.executemany("INSERT INTO audit (ts, action, result, details) VALUES (?, ?, 'ok', '{}')", rows)
        keys = [("pii_dm:old", now - 31 * day), ("pii_dm:young", now - 29 * day),
                ("quiet:@a:x:2026-01-01T17:15:00+09:00", now - 31 * day),
                ("quiet:@a:x:ancient", now - 401 * day),
                ("offboard_report:c1:1", now - 100 * day)]
        c.executemany("INSERT INTO once_keys (key, done_at) VALUES (?, ?)", keys)
        c.execute("INSERT INTO offers (event_id, action, user_id, room_id, target_event_id, detail, "
                  "created_at) VALUES ('$o1', 'redact', '@a:x', '!r:x', '$t', '{}', ?)", (now - 91 * day,))
        c.execute("INSERT INTO offers (event_id, action, user_id, room_id, target_event_id, detail, "
                  "created_at) VALUES ('$o2', 'redact', '@a:x', '!r:x', '$t', '{}', ?)", (now - 1 * day,))

    await db.run(age)
    counts = await run_once(db, inbox, Limits())
    ids = {r["event_id"] for r in await db.fetchall("SELECT event_id FROM inbox")}
    assert ids == {"$pending", "$young", "$later"}  # an old event not yet processed stays
    assert [r["txn_id"] for r in await db.fetchall("SELECT txn_id FROM inbox_txns")] == ["new-txn"]
    assert (await db.fetchone("SELECT COUNT(*) AS n FROM inbox_rejected"))["n"] == 0
    assert (await db.fetchone("SELECT COUNT(*) AS n FROM undecryptable"))["n"] == 0
    assert [r["action"] for r in await db.fetchall("SELECT action FROM audit")] == ["recent"]
    keys = {r["key"] for r in await db.fetchall("SELECT key FROM once_keys")}
    assert keys == {"pii_dm:young", "quiet:@a:x:2026-01-01T17:15:00+09:00", "offboard_report:c1:1"}
    assert [r["event_id"] for r in await db.fetchall("SELECT event_id FROM offers")] == ["$o2"]
    assert counts["inbox"] == 1 and counts["audit"] == 1 and counts["once_keys"] == 2


async def test_audit_retention_zero_keeps_forever(db):
    from appservice.core.db import transaction
    from appservice.core.housekeeping import Limits, run_once
    from appservice.core.state import write_audit

    await db.run(lambda c: transaction(c, lambda c: write_audit(c, Audit(action="lock", actor="@x:y"))))
    await db.execute("UPDATE audit SET ts = 0")
    await run_once(db, Inbox(db, BOTS), Limits(audit_days=0))
    assert (await db.fetchone("SELECT COUNT(*) AS n FROM audit"))["n"] == 1


def test_housekeeping_section_is_validated():
    from appservice.core.configerror import ConfigError
    from appservice.features.housekeeping import SCHEMA, limits

    s = SCHEMA.validate({})
    lim = limits(s)
    assert (lim.inbox_days, lim.audit_days, lim.once_keys_days) == (7, 400, 30)
    assert s["interval_minutes"] == 60
    with pytest.raises(ConfigError, match=r"housekeeping\.inbox_days"):
        SCHEMA.validate({"inbox_days": 0})
    with pytest.raises(ConfigError, match=r"housekeeping\.once_keys_days"):
        limits(SCHEMA.validate({"inbox_days": 10, "once_keys_days": 5}))
    with pytest.raises(ConfigError, match=r"housekeeping\.nope"):
        SCHEMA.validate({"nope": 1})


def mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


async def test_database_files_are_private_under_a_permissive_umask(tmp_path):
    old = os.umask(0o002)
    try:
        data_dir = tmp_path / "data"
        db = Database(data_dir / "yakuba.db")
        await db.open()
        await Inbox(db, BOTS).put_transaction("t", [message("$a")])  # the WAL has frames now
        for name in ("yakuba.db", "yakuba.db-wal", "yakuba.db-shm"):
            assert (data_dir / name).exists(), name
            assert mode(data_dir / name) == 0o600, (name, oct(mode(data_dir / name)))
        assert mode(data_dir) == 0o700
        db.close()
    finally:
        os.umask(old)


async def test_existing_loose_database_is_tightened(tmp_path):
    old = os.umask(0o022)
    try:
        data_dir = tmp_path / "data"
        data_dir.mkdir(mode=0o755)
        db = Database(data_dir / "yakuba.db")
        await db.open()
        db.close()
        for name in ("yakuba.db", "yakuba.db-wal", "yakuba.db-shm"):
            p = data_dir / name
            if p.exists():
                os.chmod(p, 0o644)
        os.chmod(data_dir, 0o755)
        db = Database(data_dir / "yakuba.db")
        await db.open()
        assert mode(data_dir / "yakuba.db") == 0o600 and mode(data_dir) == 0o700
        for name in ("yakuba.db-wal", "yakuba.db-shm"):
            if (data_dir / name).exists():
                assert mode(data_dir / name) == 0o600
        db.close()
    finally:
        os.umask(old)


def test_bot_dirs_and_session_are_private(tmp_path):
    from bots import session as bot_session
    from bots.runtime import private_dir, private_tree

    old = os.umask(0o022)
    try:
        d = private_dir(tmp_path / "data" / "bots" / "_yakuba")
        store = private_dir(d / "store")
        (store / "olm.db").write_bytes(b"x")
        private_tree(store)
        bot_session.save(d / "session.json", bot_session.load_or_create(d / "session.json", "@_yakuba:x"))
        assert mode(d) == 0o700 and mode(store) == 0o700 and mode(tmp_path / "data" / "bots") == 0o700
        assert mode(store / "olm.db") == 0o600 and mode(d / "session.json") == 0o600
    finally:
        os.umask(old)

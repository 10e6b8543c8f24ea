"""Core pieces as units: command parsing, the admin_commands policy, inbox semantics, log redaction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
import yaml

from appservice.app import logs
from appservice.app.config import config_from_dict
from appservice.core.command_policy import AdminCommandsPolicy as CommandPolicy
from appservice.core.commands import MAX_COMMAND_CHARS, CommandError, CommandTable, parse_command
from appservice.core.db import Database
from appservice.core.decisions import Audit, Notice, RunCommand
from appservice.core.events import parse_event
from appservice.core.inbox import Inbox
from appservice.core.policy import PolicyContext

BOTS = ("@_yakuba:city-a.localhost", "@_yakuba_archive:city-a.localhost")


def test_parse_command():
    assert parse_command("hello") is None
    assert parse_command("!yakubax help") is None
    assert parse_command("!yakuba") == ("help", ())
    assert parse_command('!yakuba offboard @a:b --at "2027-03-31 17:15"') == (
        "offboard", ("@a:b", "--at", "2027-03-31 17:15"))
    assert parse_command("> <@x:y> quoted\n\n!yakuba STATUS") == ("status", ())
    with pytest.raises(CommandError):
        parse_command('!yakuba lock "unbalanced')
    with pytest.raises(CommandError):
        parse_command("!yakuba " + "x" * (MAX_COMMAND_CHARS + 1))


class FakeState:
    def __init__(self, dm_owner=None):
        self.dm_owner = dm_owner

    async def is_dm_room(self, room_id):
        return self.dm_owner


@pytest.fixture
def config(tmp_path: Path):
    reg = tmp_path / "r.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    return config_from_dict({"homeserver": {"url": "http://x", "server_name": "city-a.localhost"},
                             "appservice": {"registration": str(reg)}}, tmp_path / "y.yaml")


def base_commands() -> CommandTable:
    from appservice.features.base import FEATURE

    table = CommandTable()
    table.extend(FEATURE.commands, FEATURE.name, True)
    return table


def AdminCommandsPolicy() -> CommandPolicy:
    return CommandPolicy(base_commands())


def ctx(config, dm_owner=None):
    return PolicyContext(config=config, now=datetime.now(UTC), admins=frozenset({"@admin:city-a.localhost"}),
                         admin_room="!admin:city-a.localhost", state=FakeState(dm_owner))  # type: ignore[arg-type]


def text(body, sender="@admin:city-a.localhost", room="!admin:city-a.localhost"):
    return parse_event({"event_id": "$c", "room_id": room, "type": "m.room.message", "sender": sender,
                        "origin_server_ts": 1, "content": {"msgtype": "m.text", "body": body}})


async def test_admin_command_runs_for_admins_in_admin_room(config):
    out = await AdminCommandsPolicy().evaluate(text("!yakuba status"), ctx(config))
    assert len(out) == 1 and isinstance(out[0], RunCommand) and out[0].name == "status"


async def test_non_admin_refused_and_audited(config):
    out = await AdminCommandsPolicy().evaluate(text("!yakuba status", sender="@carol:city-a.localhost"), ctx(config))
    assert isinstance(out[0], Notice) and out[0].message.key == "core.refused"
    assert isinstance(out[1], Audit) and out[1].action == "command_refused"


async def test_unknown_command_hint_only_where_yakuba_talks(config):
    out = await AdminCommandsPolicy().evaluate(text("!yakuba frobnicate"), ctx(config))
    assert out[0].message.key == "core.unknown_command"
    elsewhere = text("!yakuba frobnicate", room="!other:city-a.localhost")
    assert await AdminCommandsPolicy().evaluate(elsewhere, ctx(config)) == []
    bad = await AdminCommandsPolicy().evaluate(text('!yakuba status "x'), ctx(config))
    assert bad[0].message.key == "core.bad_arguments"


async def test_admin_commands_elsewhere_are_refused_politely(config):
    in_dm = text("!yakuba status", room="!dm:x")
    out = await AdminCommandsPolicy().evaluate(in_dm, ctx(config, "@admin:city-a.localhost"))
    assert out[0].message.key == "core.refused_scope"


def raw(event_id: str, etype: str = "m.room.message", room: str = "!r:x") -> dict:
    return {"event_id": event_id, "room_id": room, "type": etype, "sender": "@a:city-a.localhost",
            "origin_server_ts": 1, "content": {"body": "x"} if etype != "m.room.encrypted" else {"ciphertext": "c"}}


async def test_inbox_dedupes_and_upgrades_ciphertext(tmp_path):
    db = Database(tmp_path / "y.db")
    await db.open()
    inbox = Inbox(db, BOTS)
    # The bot is joined to !enc: ciphertext from the stream waits for the plaintext.
    member = {"event_id": "$m", "room_id": "!enc:x", "type": "m.room.member", "state_key": BOTS[0],
              "sender": BOTS[0], "origin_server_ts": 1, "content": {"membership": "join"}}
    r = await inbox.put_transaction("1", [member, raw("$e", "m.room.encrypted", "!enc:x"), raw("$p")])
    assert (r.new, r.duplicate, r.rejected) == (3, 0, 0)
    r = await inbox.put_transaction("1", [raw("$p"), {"garbage": True}])
    assert (r.new, r.duplicate, r.rejected) == (0, 1, 1)
    assert [i.event.event_id for i in await inbox.next_batch()] == ["$m", "$p"]
    plaintext = {**raw("$e", room="!enc:x"), "content": {"msgtype": "m.text", "body": "平文"}}
    assert await inbox.put_decrypted(plaintext) is True
    assert await inbox.put_decrypted(plaintext) is False  # once
    batch = await inbox.next_batch()
    enc = next(i for i in batch if i.event.event_id == "$e")
    assert enc.event.decrypted and enc.event.content["body"] == "平文"
    db.close()


async def test_inbox_survives_reopen(tmp_path):
    db = Database(tmp_path / "y.db")
    await db.open()
    await Inbox(db, BOTS).put_transaction("7", [raw("$keep")])
    db.close()  # "crash" after the ack: nothing processed yet
    db2 = Database(tmp_path / "y.db")
    await db2.open()
    assert [i.event.event_id for i in await Inbox(db2, BOTS).next_batch()] == ["$keep"]
    db2.close()


async def test_plaintext_before_ciphertext_is_one_event(tmp_path):
    db = Database(tmp_path / "y.db")
    await db.open()
    inbox = Inbox(db, BOTS)
    assert await inbox.put_decrypted(raw("$x", room="!enc:x"))
    r = await inbox.put_transaction("2", [raw("$x", "m.room.encrypted", "!enc:x")])
    assert r.duplicate == 1
    db.close()


def test_secrets_are_redacted_from_log_lines(capsys):
    logs.configure("json", "info")
    try:
        logs.register_secret("super-secret-as-token-value")
        structlog.get_logger("t").info("calling", url="http://x/?access_token=super-secret-as-token-value",
                                       access_token="abc", headers={"Authorization": "Bearer zzz"})
    finally:
        structlog.reset_defaults()  # the configured logger holds pytest's capture stream
    line = capsys.readouterr().err.strip().splitlines()[-1]
    data = json.loads(line)
    assert "super-secret-as-token-value" not in line and "zzz" not in line
    assert data["access_token"] == "***"


def test_event_parsing_rejects_garbage():
    from appservice.core.events import MalformedEvent

    for bad in (None, [], {"event_id": "$x"}, {**raw("$x"), "content": []}, {**raw("$x"), "origin_server_ts": True}):
        with pytest.raises(MalformedEvent):
            parse_event(bad)

"""Mention pills: the args of a command come from the plain body, where a pill shows a display
name — which anyone can make look like somebody else's user id. The mentions travel with the
command (m.mentions.user_ids and the pills of formatted_body) and offboarding resolves targets
from them, refusing when the text and the mentions disagree."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from appservice.app.config import config_from_dict
from appservice.core.command_policy import AdminCommandsPolicy
from appservice.core.commands import CommandError, CommandTable, Invocation, mentions_of, pill_target
from appservice.core.decisions import Message, RunCommand
from appservice.core.events import parse_event
from appservice.core.policy import PolicyContext
from appservice.features.offboarding import FEATURE as OFFBOARDING
from appservice.features.offboarding import commands
from appservice.features.offboarding.plan import ArgError, check_mentioned, resolve_mentions

S = "city-a.localhost"
ADMIN, BOB, MALLORY = f"@admin:{S}", f"@bob:{S}", f"@mallory:{S}"
ADMIN_ROOM = f"!admin:{S}"
BOT = f"@_yakuba:{S}"


def link(user: str, text: str) -> str:
    return f'<a href="https://matrix.to/#/{user}">{text}</a>'


# -- reading the mentions of an event -----------------------------------------------------------

def test_pill_targets():
    assert pill_target(f"https://matrix.to/#/{BOB}") == BOB
    assert pill_target("https://matrix.to/#/%40bob%3Acity-a.localhost?via=city-a.localhost") == BOB
    assert pill_target("matrix:u/bob:city-a.localhost?action=chat") == BOB
    assert pill_target("https://matrix.to/#/!room:city-a.localhost") is None
    assert pill_target("https://example.org/#/@bob:city-a.localhost") is None


def test_mentions_of_reads_pills_outside_the_reply_quote():
    content = {
        "body": "!yakuba lock Bob Tanaka 紛失", "format": "org.matrix.custom.html",
        "formatted_body": (f"<mx-reply><blockquote>{link(ADMIN, 'admin')} said</blockquote></mx-reply>"
                           f"!yakuba lock {link(MALLORY, 'Bob &amp; <b>Tanaka</b>')} 紛失"),
        "m.mentions": {"user_ids": [MALLORY, MALLORY, 7]},
    }
    assert mentions_of(content) == ((MALLORY,), ((MALLORY, "Bob & Tanaka"),))
    assert mentions_of({"body": "x", "formatted_body": link(BOB, "b")}) == ((), ())  # no format: no HTML


@pytest.fixture
def config(tmp_path: Path):
    reg = tmp_path / "r.yaml"
    reg.write_text(yaml.safe_dump({"as_token": "a" * 20, "hs_token": "h" * 20}))
    return config_from_dict({"homeserver": {"url": "http://x", "server_name": S},
                             "appservice": {"registration": str(reg)}, "admins": [ADMIN]}, tmp_path / "y.yaml")


class FakeState:
    async def is_dm_room(self, room_id: str) -> None:
        return None


def command_event(body: str, html: str | None = None, mentions: list[str] | None = None,
                  **extra: Any) -> Any:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body, **extra}
    if html is not None:
        content |= {"format": "org.matrix.custom.html", "formatted_body": html}
    if mentions is not None:
        content["m.mentions"] = {"user_ids": mentions}
    return parse_event({"event_id": "$c", "room_id": ADMIN_ROOM, "type": "m.room.message", "sender": ADMIN,
                        "origin_server_ts": 1, "content": content})


async def run_policy(config: Any, event: Any) -> RunCommand:
    table = CommandTable()
    table.extend(OFFBOARDING.commands, OFFBOARDING.name, True)
    ctx = PolicyContext(config=config, now=datetime.now(UTC), admins=frozenset({ADMIN}), admin_room=ADMIN_ROOM,
                        state=FakeState())  # type: ignore[arg-type]
    (out,) = await AdminCommandsPolicy(table).evaluate(event, ctx)
    assert isinstance(out, RunCommand)
    return out


async def test_the_command_carries_its_mentions(config):
    event = command_event("!yakuba lock @bob:city-a.localhost 紛失",
                          f"!yakuba lock {link(MALLORY, '@bob:city-a.localhost')} 紛失", [MALLORY, BOT])
    run = await run_policy(config, event)
    assert run.args == ("@bob:city-a.localhost", "紛失")
    assert run.mentions == (MALLORY,)  # the bot is not a choice of target
    assert run.pills == ((MALLORY, "@bob:city-a.localhost"),)


async def test_a_reply_does_not_count_its_implicit_mention(config):
    event = command_event(f"!yakuba lock {BOB} 紛失", None, [ADMIN],
                          **{"m.relates_to": {"m.in_reply_to": {"event_id": "$earlier"}}})
    run = await run_policy(config, event)
    assert run.mentions == () and run.pills == ()


# -- resolving targets --------------------------------------------------------------------------

def test_resolve_replaces_the_shown_text_by_the_linked_user():
    assert resolve_mentions(("Bob", "Tanaka", "紛失"), pills=[(MALLORY, "Bob Tanaka")], server_name=S) == (
        MALLORY, "紛失")
    assert resolve_mentions(("Bob Tanaka", "紛失"), pills=[(MALLORY, "Bob Tanaka")], server_name=S) == (
        MALLORY, "紛失")
    # a pill that shows its own id (or its short form) is just that user
    assert resolve_mentions(("@bob", "x"), pills=[(BOB, "@bob")], server_name=S) == (BOB, "x")
    assert resolve_mentions((BOB, "x"), pills=[], server_name=S) == (BOB, "x")


def test_resolve_refuses_a_pill_showing_someone_elses_id():
    with pytest.raises(ArgError) as exc:
        resolve_mentions((BOB, "紛失"), pills=[(MALLORY, BOB)], server_name=S)
    assert exc.value.key == "offboarding.err.mention_mismatch" and exc.value.params["user"] == MALLORY
    with pytest.raises(ArgError) as exc:  # full-width look-alike of @bob
        resolve_mentions(("＠ｂｏｂ",), pills=[(MALLORY, "＠ｂｏｂ")], server_name=S)
    assert exc.value.key == "offboarding.err.mention_mismatch"


def test_resolve_refuses_a_pill_that_is_not_in_the_body():
    with pytest.raises(ArgError) as exc:
        resolve_mentions((BOB, "紛失"), pills=[(MALLORY, "Bob Tanaka")], server_name=S)
    assert exc.value.key == "offboarding.err.mention_missing"


def test_check_mentioned():
    check_mentioned([BOB], mentioned=set())
    check_mentioned([BOB, None], mentioned={BOB})
    with pytest.raises(ArgError) as exc:
        check_mentioned([BOB], mentioned={MALLORY})
    assert exc.value.key == "offboarding.err.not_mentioned"


# -- the commands -------------------------------------------------------------------------------

class FakeOffboarder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def lock(self, user: str, actor: str, reason: str) -> list[Message]:
        self.calls.append(("lock", user, reason))
        return [Message("offboarding.lock.done", {"user": user, "pushers": 0})]

    async def logout(self, user: str, actor: str) -> list[Message]:
        self.calls.append(("logout", user))
        return [Message("offboarding.logout.done", {"user": user, "devices": 0})]


def invocation(config: Any, name: str, args: tuple[str, ...], *, pills: tuple[tuple[str, str], ...] = (),
               mentions: tuple[str, ...] = ()) -> tuple[Invocation, FakeOffboarder]:
    async def admins() -> frozenset[str]:
        return frozenset({ADMIN})

    services = SimpleNamespace(config=config, admins=admins)
    ob = FakeOffboarder()
    inv = Invocation(name, args, ADMIN, ADMIN_ROOM, "$cmd", services,  # type: ignore[arg-type]
                     feature=SimpleNamespace(offboarder=ob), pills=pills, mentions=mentions)
    return inv, ob


async def test_lock_targets_the_picked_user_when_the_body_shows_a_display_name(config):
    inv, ob = invocation(config, "lock", ("Bob", "Tanaka", "紛失"), pills=((MALLORY, "Bob Tanaka"),),
                         mentions=(MALLORY,))
    await commands.lock(inv)
    assert ob.calls == [("lock", MALLORY, "紛失")]


async def test_lock_refuses_a_display_name_posing_as_a_user_id(config):
    inv, ob = invocation(config, "lock", (BOB, "紛失"), pills=((MALLORY, BOB),), mentions=(MALLORY,))
    with pytest.raises(CommandError) as exc:
        await commands.lock(inv)
    assert MALLORY in str(exc.value) and ob.calls == []


async def test_logout_refuses_an_id_the_mentions_do_not_back(config):
    inv, ob = invocation(config, "logout", (BOB,), mentions=(MALLORY,))  # body-only client
    with pytest.raises(CommandError):
        await commands.logout(inv)
    assert ob.calls == []


async def test_offboard_successor_pill_must_agree(config):
    inv, _ = invocation(config, "offboard", (BOB, "--successor", BOB), pills=((MALLORY, BOB),))
    with pytest.raises(CommandError):
        await commands.offboard(inv)

"""The pii policy as a pure unit: (event, context) → decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from appservice.core.configerror import ConfigError
from appservice.core.decisions import AdminNotice, Audit, DirectNotice, Effect, Redact
from appservice.core.events import parse_event
from appservice.core.executor import render
from appservice.core.policy import PolicyContext
from appservice.features.pii.policy import PiiPolicy, PiiSettings
from tests.unit.support import make_config, make_context

MY_NUMBER = "1234-5678-9018"


class FakeState:
    async def room_name(self, room_id):
        return "住民対応"


@pytest.fixture
def ctx(tmp_path: Path) -> PolicyContext:
    return make_context(make_config(tmp_path), FakeState())


def msg(body: str, sender: str = "@alice:city-a.localhost", **extra) -> object:
    content = {"msgtype": "m.text", "body": body, **extra}
    return parse_event({"event_id": "$e1", "room_id": "!r:city-a.localhost", "type": "m.room.message",
                        "sender": sender, "origin_server_ts": 1, "content": content})


async def test_local_sender_gets_warning_with_delete_offer_admin_notice_and_audit(ctx):
    out = await PiiPolicy(PiiSettings.parse({})).evaluate(msg(f"マイナンバーは{MY_NUMBER}"), ctx)
    kinds = [type(d) for d in out]
    assert kinds == [DirectNotice, AdminNotice, Audit]
    dm = out[0]
    assert dm.offer is not None and dm.offer.action == "redact" and dm.offer.event_id == "$e1"
    text = render(dm.message, "ja") + render(out[1].message, "ja") + render(dm.message, "en")
    assert "9018" in render(out[1].message, "ja")  # masked preview keeps the last four only
    assert "1234" not in text and "5678" not in text
    assert out[2].details["kinds"] == ["my_number"]


async def test_redact_action_redacts_as_the_sender(ctx):
    settings = PiiSettings.parse({"kinds": {"my_number": "redact"}})
    out = await PiiPolicy(settings).evaluate(msg(f"個人番号 {MY_NUMBER}"), ctx)
    redact = next(d for d in out if isinstance(d, Redact))
    assert redact.as_user == "@alice:city-a.localhost" and redact.event_id == "$e1"


async def test_off_in_one_room_and_informational_kinds_are_quiet(ctx):
    settings = PiiSettings.parse({"rooms": {"!r:city-a.localhost": {"action": "off"}}})
    assert await PiiPolicy(settings).evaluate(msg(f"マイナンバー {MY_NUMBER}"), ctx) == []
    assert await PiiPolicy(PiiSettings.parse({})).evaluate(msg("法人番号 5835678256246 〒100-0001"), ctx) == []


async def test_remote_sender_goes_to_moderators(ctx):
    out = await PiiPolicy(PiiSettings.parse({})).evaluate(msg(f"マイナンバー {MY_NUMBER}", "@x:town-b.jp"), ctx)
    assert isinstance(out[0], Effect) and out[0].kind == "pii_notify_moderators"
    assert not any(isinstance(d, DirectNotice | Redact) for d in out)


async def test_edit_scans_new_content_and_ciphertext_is_skipped(ctx):
    edit = msg("* x", **{"m.new_content": {"msgtype": "m.text", "body": f"マイナンバー {MY_NUMBER}"},
                         "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}})
    out = await PiiPolicy(PiiSettings.parse({})).evaluate(edit, ctx)
    assert any(isinstance(d, DirectNotice) for d in out)
    cipher = parse_event({"event_id": "$c", "room_id": "!r:x", "type": "m.room.encrypted",
                          "sender": "@alice:city-a.localhost", "origin_server_ts": 1,
                          "content": {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA"}})
    assert await PiiPolicy(PiiSettings.parse({})).evaluate(cipher, ctx) == []


async def test_bots_and_odd_content_are_ignored(ctx):
    bot_msg = msg(f"マイナンバー {MY_NUMBER}", "@_yakuba:city-a.localhost")
    assert await PiiPolicy(PiiSettings.parse({})).evaluate(bot_msg, ctx) == []
    odd = parse_event({"event_id": "$o", "room_id": "!r:x", "type": "m.room.message", "sender": "@a:city-a.localhost",
                       "origin_server_ts": 1, "content": {"body": 5, "formatted_body": ["x"], "m.new_content": "y"}})
    assert await PiiPolicy(PiiSettings.parse({})).evaluate(odd, ctx) == []


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"pii.kinds.my_numbr"):
        PiiSettings.parse({"kinds": {"my_numbr": "warn"}})
    with pytest.raises(ConfigError, match=r"pii.kinds.phone: expected one of warn, redact, off"):
        PiiSettings.parse({"kinds": {"phone": "delete"}})
    with pytest.raises(ConfigError, match=r"pii.min_confidence"):
        PiiSettings.parse({"min_confidence": 3})


async def test_number_split_by_tags_in_formatted_body_is_found(ctx):
    html = "マイナンバー 1234<b>5678</b>9018"
    event = msg("マイナンバー 1234**5678**9018", format="org.matrix.custom.html", formatted_body=html)
    found, _ = PiiPolicy(PiiSettings.parse({})).findings(event)
    assert [(t, f.kind, t[f.start:f.end]) for t, f in found if t == html] == [
        (html, "my_number", "1234<b>5678</b>9018")]
    out = await PiiPolicy(PiiSettings.parse({})).evaluate(event, ctx)
    admin = next(d for d in out if isinstance(d, AdminNotice))
    shown = render(admin.message, "ja")
    assert "9018" in shown and "1234" not in shown and "5678" not in shown

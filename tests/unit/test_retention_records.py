"""Record building (pure): every kind of Matrix event becomes a valid archive record."""

from __future__ import annotations

from typing import Any

import pytest

from appservice.core.events import parse_event
from appservice.features.retention.records import FLAG_STATE_TYPE, build_record, classify, flag_text, relation
from appservice.lib.archive import make_record

ROOM = "!room:city-a.localhost"
ALICE = "@alice:city-a.localhost"
BOB = "@bob:city-a.localhost"
TS = 1_763_700_000_000  # 2025-11-21T04:40:00Z = 13:40 JST


def ev(etype: str = "m.room.message", content: dict[str, Any] | None = None, *, sender: str = ALICE,
       event_id: str = "$e1", decrypted: bool = False, **extra: Any):
    raw = {"event_id": event_id, "room_id": ROOM, "type": etype, "sender": sender,
           "origin_server_ts": TS, "content": content if content is not None else {}, **extra}
    return parse_event(raw, decrypted=decrypted)


def build(event, **kw: Any) -> dict[str, Any]:
    kind = classify(event)
    assert kind is not None
    rec = build_record(event, kind, room_name=kw.pop("room_name", "総務課連絡"),
                       display_name=kw.pop("display_name", "有栖 花子"),
                       affiliation=kw.pop("affiliation", {"department": "総務課", "title": "主事"}), **kw)
    make_record(rec)  # the archive accepts it: known fields only, valid types
    return rec


def test_plain_message_with_times_sender_and_affiliation() -> None:
    rec = make_record(build(ev(content={"msgtype": "m.text", "body": "会議は15時から",
                                        "format": "org.matrix.custom.html",
                                        "formatted_body": "会議は<b>15時</b>から"})))
    assert rec["kind"] == "message" and rec["msgtype"] == "m.text"
    assert rec["body"] == "会議は15時から" and rec["formatted_body"] == "会議は<b>15時</b>から"
    assert rec["ts_utc"] == "2025-11-21T04:40:00.000+00:00"
    assert rec["ts_jst"] == "2025-11-21T13:40:00.000+09:00"
    assert rec["sender"] == ALICE and rec["display_name"] == "有栖 花子"
    assert rec["affiliation"] == {"department": "総務課", "title": "主事"}
    assert rec["room_name"] == "総務課連絡" and rec["room_id"] == ROOM
    assert rec["encrypted"] is False and rec["relates_to"] is None


def test_decrypted_event_is_marked_encrypted() -> None:
    rec = build(ev(content={"msgtype": "m.text", "body": "秘"}, decrypted=True))
    assert rec["encrypted"] is True


def test_edit_is_its_own_record_with_the_new_text() -> None:
    edit = ev(event_id="$edit", content={
        "msgtype": "m.text", "body": "* 会議は16時から",
        "m.new_content": {"msgtype": "m.text", "body": "会議は16時から"},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$orig"}})
    rec = build(edit)
    assert rec["kind"] == "edit" and rec["body"] == "会議は16時から"
    assert rec["relates_to"] == {"rel_type": "m.replace", "event_id": "$orig", "in_reply_to": None}


def test_redaction_keeps_target_and_reason() -> None:
    rec = build(ev("m.room.redaction", {"redacts": "$orig", "reason": "誤送信"}, sender=BOB))
    assert rec["kind"] == "redaction" and rec["redacts"] == "$orig" and rec["body"] == "誤送信"
    old_style = build(ev("m.room.redaction", {}, redacts="$orig2"))
    assert old_style["redacts"] == "$orig2"


def test_reply_and_thread_relations() -> None:
    reply = build(ev(content={"msgtype": "m.text", "body": "了解",
                              "m.relates_to": {"m.in_reply_to": {"event_id": "$q"}}}))
    assert reply["relates_to"] == {"rel_type": None, "event_id": None, "in_reply_to": "$q"}
    thread = relation({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root", "is_falling_back": True,
                                        "m.in_reply_to": {"event_id": "$root"}}})
    assert thread == {"rel_type": "m.thread", "event_id": "$root", "in_reply_to": None}
    real_reply_in_thread = relation({"m.relates_to": {"rel_type": "m.thread", "event_id": "$root",
                                                      "m.in_reply_to": {"event_id": "$x"}}})
    assert real_reply_in_thread["in_reply_to"] == "$x"


def test_media_with_stored_blob_and_without() -> None:
    content = {"msgtype": "m.image", "body": "写真.png", "info": {"mimetype": "image/png", "size": 42},
               "file": {"url": "mxc://x/y"}}
    stored = {"sha256": "ab" * 32, "name": "写真.png", "mimetype": "image/png", "size": 42}
    rec = build(ev(content=content), media=stored)
    assert rec["kind"] == "media" and rec["media"] == stored and rec["msgtype"] == "m.image"
    missing = build(ev(content=content))
    assert missing["media"] == {"sha256": None, "name": "写真.png", "mimetype": "image/png", "size": 42}
    sticker = ev("m.sticker", {"body": "猫", "url": "mxc://x/z", "info": {"mimetype": "image/webp"}})
    assert classify(sticker) == "media" and build(sticker)["msgtype"] == "m.sticker"


def test_membership_changes() -> None:
    join = build(ev("m.room.member", {"membership": "join", "displayname": "有栖"}, state_key=ALICE))
    assert join["kind"] == "membership" and join["membership"] == "join" and join["body"] is None
    invite = build(ev("m.room.member", {"membership": "invite"}, state_key=BOB))
    assert invite["body"] == f"招待: {BOB}"
    kick = build(ev("m.room.member", {"membership": "leave", "reason": "異動"}, state_key=BOB))
    assert kick["body"] == f"退出: {BOB} / 理由: 異動"


def test_room_name_topic_and_flag_are_notices() -> None:
    name = build(ev("m.room.name", {"name": "新しい名前"}, state_key=""))
    assert (name["kind"], name["msgtype"], name["body"]) == ("notice", "m.room.name", "新しい名前")
    topic = build(ev("m.room.topic", {"topic": "議題"}, state_key=""))
    assert topic["body"] == "議題"
    flag = build(ev(FLAG_STATE_TYPE, {"active": True, "retention_years": 5, "category": "庶務",
                                      "department": "総務課"}, state_key=""))
    assert flag["body"] == "公文書保存: 開始 保存期間5年 分類 庶務 主管部署 総務課"
    assert flag_text({"active": False}) == "公文書保存: 終了"


@pytest.mark.parametrize("etype,content,extra", [
    ("m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$x", "key": "👍"}}, {}),
    ("m.room.encrypted", {"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "…"}, {}),
    ("m.room.power_levels", {"users": {}}, {"state_key": ""}),
    ("m.room.name", {"name": "x"}, {}),  # not state: not a name change
    ("m.call.invite", {}, {}),
])
def test_not_archived(etype: str, content: dict[str, Any], extra: dict[str, Any]) -> None:
    assert classify(ev(etype, content, **extra)) is None


def test_hostile_content_does_not_break_records() -> None:
    odd = ev(content={"msgtype": "m.text", "body": ["not", "a", "string"], "formatted_body": 5,
                      "m.relates_to": "nope", "extra_field": {"x": 1}})
    rec = build(odd)
    assert rec["body"] is None and rec["formatted_body"] is None and rec["relates_to"] is None
    lone = build(ev(content={"msgtype": "m.text", "body": "a\ud800b"}))
    assert make_record(lone)["body"] == "a\ufffdb"
    media = build(ev(content={"msgtype": "m.file", "body": "f", "info": {"size": True}}))
    assert media["media"]["size"] is None

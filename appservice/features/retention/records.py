"""Matrix event → archive record (appservice/lib/archive/record.py). Pure: no I/O.

What is archived, by event type:
* m.room.message   → message | notice (m.notice) | media (m.image/file/video/audio) | edit (m.replace)
* m.sticker        → media
* m.room.redaction → redaction (the archived original stays as it was)
* m.room.member    → membership (joins, leaves, invites, kicks, bans, display-name changes)
* m.room.name / m.room.topic / jp.yakuba.archive → notice (msgtype = the event type)
Not archived: reactions, receipts, typing, calls, polls, other state (power levels, …) and
ciphertext we never got the plaintext of (see policy.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appservice.core.config import Config, server_of
from appservice.core.events import Event

FLAG_STATE_TYPE = "jp.yakuba.archive"
MEDIA_MSGTYPES = frozenset({"m.image", "m.file", "m.video", "m.audio"})
NOTICE_STATE_TYPES = frozenset({"m.room.name", "m.room.topic", FLAG_STATE_TYPE})
MEMBERSHIP_LABELS = {
    "join": "参加", "leave": "退出", "invite": "招待", "ban": "追放", "knock": "参加申請",
}


def classify(event: Event) -> str | None:
    """The record kind for an event, or None when the event is not archived."""
    etype = event.type
    if etype == "m.room.message":
        if event.is_edit:
            return "edit"
        if event.msgtype in MEDIA_MSGTYPES:
            return "media"
        if event.msgtype == "m.notice":
            return "notice"
        return "message"
    if etype == "m.sticker":
        return "media"
    if etype == "m.room.redaction":
        return "redaction"
    if etype == "m.room.member" and event.state_key is not None:
        return "membership"
    if etype in NOTICE_STATE_TYPES and event.state_key == "":
        return "notice"
    return None


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def relation(content: dict[str, Any]) -> dict[str, Any] | None:
    """{rel_type, event_id, in_reply_to} for replies, threads and edits; None otherwise."""
    rel = content.get("m.relates_to")
    if not isinstance(rel, dict):
        return None
    reply = rel.get("m.in_reply_to")
    in_reply_to = _s(reply.get("event_id")) if isinstance(reply, dict) else None
    rel_type, target = _s(rel.get("rel_type")), _s(rel.get("event_id"))
    if rel_type == "m.thread" and rel.get("is_falling_back") and in_reply_to == target:
        in_reply_to = None  # thread fallback for old clients, not a real reply
    if not (rel_type or target or in_reply_to):
        return None
    return {"rel_type": rel_type, "event_id": target, "in_reply_to": in_reply_to}


def member_display_name(event: Event) -> str | None:
    """The display name an m.room.member event sets (joins and profile changes)."""
    if event.type == "m.room.member" and event.content.get("membership") == "join":
        return _s(event.content.get("displayname"))
    return None


def attachment_meta(event: Event) -> tuple[str | None, str | None, int | None]:
    """(file name, mimetype, size) as the sender described the attachment."""
    c = event.content
    raw_info = c.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    size = info.get("size")
    return (_s(c.get("filename")) or _s(c.get("body")), _s(info.get("mimetype")),
            size if isinstance(size, int) and not isinstance(size, bool) else None)


def external_affiliation(config: Config, sender: str) -> dict[str, Any]:
    """A remote sender's affiliation: their municipality (`federation.partners`), marked as
    outside this one — 所属 「城南町（外部）」 in the record and every export. An unlisted server is
    named by its server name, so the record still says where the message came from. (The
    record's affiliation keeps its two fields: the archive format does not change.)"""
    server = server_of(sender)
    partner = config.federation.partner(server)
    return {"department": f"{partner.name if partner else server}（外部）", "title": None}


def build_record(event: Event, kind: str, *, room_name: str | None, display_name: str | None,
                 affiliation: dict[str, Any] | None, media: dict[str, Any] | None = None,
                 received_at: datetime | None = None) -> dict[str, Any]:
    """The record for `event` (unchained; the store adds seq and hashes).

    `ts` is the sender's origin_server_ts, a claim; with `received_at` (when Yakuba got the
    event) the archive believes it only within a sane window of that (lib/archive/record.py
    `bounded_ts`), so a hostile or broken clock can neither crash the write nor date a record
    out of its fiscal year."""
    c = event.content
    rec: dict[str, Any] = {
        "event_id": event.event_id,
        "room_id": event.room_id,
        "room_name": room_name,
        "ts": event.origin_server_ts,
        "received_at": received_at,
        "sender": event.sender,
        "display_name": display_name,
        "affiliation": affiliation,
        "kind": kind,
        "encrypted": event.encrypted,
    }
    if kind in ("message", "notice", "media", "edit") and event.type in ("m.room.message", "m.sticker"):
        source = c
        if kind == "edit" and isinstance(c.get("m.new_content"), dict):
            source = c["m.new_content"]  # the fallback body repeats it with a "* " prefix
        rec["msgtype"] = _s(source.get("msgtype")) or ("m.sticker" if event.type == "m.sticker" else None)
        rec["body"] = _s(source.get("body"))
        rec["formatted_body"] = _s(source.get("formatted_body"))
        rec["relates_to"] = relation(c)
        if kind == "media":
            name, mimetype, size = attachment_meta(event)
            rec["media"] = media or {"sha256": None, "name": name, "mimetype": mimetype, "size": size}
    elif kind == "redaction":
        rec["redacts"] = event.redacts
        rec["body"] = _s(c.get("reason"))
    elif kind == "membership":
        membership = _s(c.get("membership"))
        rec["membership"] = membership
        target = event.state_key or ""
        parts = []
        if target and target != event.sender:
            parts.append(f"{MEMBERSHIP_LABELS.get(membership or '', membership or '')}: {target}")
        if _s(c.get("reason")):
            parts.append(f"理由: {c['reason']}")
        rec["body"] = " / ".join(parts) or None
    elif kind == "notice":  # room name, topic, our own flag
        rec["msgtype"] = event.type
        if event.type == "m.room.name":
            rec["body"] = _s(c.get("name"))
        elif event.type == "m.room.topic":
            rec["body"] = _s(c.get("topic"))
        else:
            rec["body"] = flag_text(c)
    return rec


def flag_text(content: dict[str, Any]) -> str:
    """One line for the jp.yakuba.archive state event (Japanese, like the export columns)."""
    if not content.get("active"):
        return "公文書保存: 終了"
    parts = [f"公文書保存: 開始 保存期間{content.get('retention_years')}年"]
    for key, label in (("category", "分類"), ("department", "主管部署")):
        if isinstance(content.get(key), str) and content[key]:
            parts.append(f"{label} {content[key]}")
    return " ".join(parts)

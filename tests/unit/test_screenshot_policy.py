"""The screenshot rule's decisions, as a pure unit."""

from __future__ import annotations

import pytest

from appservice.core.configerror import ConfigError
from appservice.core.decisions import AdminNotice, Audit, DirectNotice, Redact
from appservice.core.events import parse_event
from appservice.core.executor import render
from appservice.features.screenshots.policy import ScreenshotSettings, decide, is_image_message
from appservice.lib.screenshots import ImageVerdict, Signal


def image_event(msgtype: str = "m.image", mimetype: str = "image/png"):
    return parse_event({"event_id": "$img", "room_id": "!r:city-a.localhost", "type": "m.room.message",
                        "sender": "@alice:city-a.localhost", "origin_server_ts": 1,
                        "content": {"msgtype": msgtype, "body": "x.png", "url": "mxc://a/b",
                                    "info": {"mimetype": mimetype}}})


def verdict(is_shot: bool, ocr=()) -> ImageVerdict:
    return ImageVerdict(score=0.9 if is_shot else 0.1, is_screenshot=is_shot,
                        signals=(Signal("filename", 0.7, "matches"), Signal("camera", -0.3, "x")),
                        width=1170, height=2532, format="PNG", ocr_findings=tuple(ocr))


def test_image_messages_are_recognised():
    assert is_image_message(image_event())
    assert is_image_message(image_event("m.file", "image/jpeg"))
    assert not is_image_message(image_event("m.file", "application/pdf"))


def test_screenshot_warns_with_offer_and_names_signals_to_admins():
    out = decide(verdict(True), image_event(), ScreenshotSettings.parse({}), "窓口", True)
    assert [type(d) for d in out] == [DirectNotice, AdminNotice, Audit]
    assert out[0].offer and out[0].offer.action == "redact"
    admin = render(out[1].message, "ja")
    assert "filename" in admin and "camera" not in admin  # only signals that pointed towards "screenshot"


def test_not_a_screenshot_and_no_pii_means_nothing():
    assert decide(verdict(False), image_event(), ScreenshotSettings.parse({}), None, True) == []


def test_pii_seen_by_ocr_counts_even_for_photos_and_redact_mode():
    settings = ScreenshotSettings.parse({"kinds": {"pii_in_image": "redact"}})
    out = decide(verdict(False, [("my_number", 1), ("postal_code", 2)]), image_event(), settings, "窓口", True)
    assert isinstance(out[0], Redact) and out[0].as_user == "@alice:city-a.localhost"
    text = render(out[1].message, "ja")
    assert "マイナンバー" in text and "郵便番号" not in text


def test_remote_sender_only_reaches_admins():
    out = decide(verdict(True), image_event(), ScreenshotSettings.parse({}), "窓口", False)
    assert [type(d) for d in out] == [AdminNotice, Audit]


def test_config_errors():
    with pytest.raises(ConfigError, match=r"screenshots\.threshold"):
        ScreenshotSettings.parse({"threshold": 0})
    with pytest.raises(ConfigError, match=r"screenshots\.kinds.photo"):
        ScreenshotSettings.parse({"kinds": {"photo": "warn"}})
    with pytest.raises(ConfigError, match=r"screenshots\.ocr"):
        ScreenshotSettings.parse({"ocr": "yes"})

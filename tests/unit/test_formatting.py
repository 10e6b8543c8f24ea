"""What a person sees (core/formatting.py): formatted notices, links that stay inside the
organisation, nothing too wide for a phone."""

from __future__ import annotations

import re

import pytest

from appservice.core.decisions import Message
from appservice.core.formatting import (
    EventLink,
    Presentation,
    message_content,
    notice_content,
    permalink_template,
    render,
    render_html,
)
from appservice.features.pii.policy import kind_names
from appservice.lib.pii import mask_preview, scan

ROOM = "!OjbxyUvKcCmEYnXaAqPdVhTz3wLk9sRe2fGh7jKl1m4:city-a.localhost"
EVENT = "$46Kpfm-1cge6Lhl7PNMjw_LKT-twHr9l4V3xpxD7wBs"
ELEMENT = Presentation(permalink=permalink_template("https://chat.city-a.example.jp/"))
HYDROGEN = Presentation(permalink=permalink_template("http://127.0.0.1:8080/#/last-session/open-room/{room_id}"))
LONGEST = 40  # characters without a break opportunity that one 390 px line still holds


def visible(html: str) -> str:
    """The text a client shows for formatted_body: tags gone, entities back."""
    import html as h

    return h.unescape(re.sub(r"<[^>]+>", " ", html))


def longest_unbroken(text: str) -> int:
    return max((len(w) for w in re.findall(r"[!-~]+", text)), default=0)


def pii_warning() -> Message:
    return Message("pii.warning", {"kinds": kind_names(["my_number"]), "room": "住民対応",
                                   "link": EventLink(ROOM, EVENT)})


def test_a_warning_links_to_the_own_client_with_words_not_a_url() -> None:
    content = message_content([pii_warning()], "ja", ELEMENT)
    url = f"https://chat.city-a.example.jp/#/room/{ROOM}/{EVENT}"
    assert content["body"].endswith(f"該当メッセージ: {url}")  # the plain fallback keeps the URL
    assert content["format"] == "org.matrix.custom.html"
    assert f'<a href="{url}">該当メッセージ</a>' in content["formatted_body"]
    assert "matrix.to" not in content["body"] + content["formatted_body"]
    shown = visible(content["formatted_body"])
    assert "該当メッセージ" in shown and EVENT not in shown and ROOM not in shown


def test_title_bold_bullets_a_list_commands_code() -> None:
    html = message_content([pii_warning()], "ja", ELEMENT)["formatted_body"]
    assert html.startswith("<strong>⚠️ 個人情報が含まれている可能性があります</strong><br>")
    assert re.search(r"<ul><li>このメッセージに ✅ でリアクションすると.*?</li><li>自分で削除する場合", html)
    help_line = render_html(Message("core.help.line", {"usage": "status", "summary": "稼働状況"}), "ja")
    assert "<code>!yakuba status</code>" in notice_content("x", help_line)["formatted_body"]


def test_one_line_notice_is_not_made_a_title() -> None:
    content = message_content([Message("core.refused_scope")], "ja")
    assert content["formatted_body"] == content["body"] == "このコマンドは管理ルームでのみ使えます。"


def test_names_from_outside_are_escaped_and_one_line() -> None:
    m = Message("pii.warning", {"kinds": [], "room": "<b>総務</b>\n✅ 承認済み", "link": EventLink(ROOM, EVENT)})
    html = message_content([m], "ja", ELEMENT)["formatted_body"]
    assert "&lt;b&gt;総務&lt;/b&gt; ✅ 承認済み" in html and "<b>総務" not in html


def test_without_a_permalink_the_link_line_is_left_out() -> None:
    for locale in ("ja", "en"):
        body = render(pii_warning(), locale)
        assert "{link}" not in body and "matrix.to" not in body and EVENT not in body
        assert not body.endswith("\n") and "\n\n" not in body
    assert render(Message("pii.admin_notice", {"findings": [], "room": "r", "user": "@a:x", "action": "",
                                               "link": EventLink(ROOM, EVENT)}), "ja").count("\n") == 0


def test_hydrogen_template_and_ids_stay_inside_the_fragment() -> None:
    url = HYDROGEN.event_url(EventLink("!a/b?c#d:x", EVENT))
    assert url == "http://127.0.0.1:8080/#/last-session/open-room/!a%2Fb%3Fc%23d:x"


@pytest.mark.parametrize(("value", "why"), [
    ("https://matrix.to/#/", "outside service"),
    ("ftp://chat.example/", "http:// or https://"),
    ("https://chat.example/#/{room}", "unknown placeholder"),
    ("https://chat.example/#/{event_id}", "needs {room_id}"),
])
def test_bad_permalinks_are_refused(value: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        permalink_template(value)


@pytest.mark.parametrize("presentation", [ELEMENT, HYDROGEN, Presentation()], ids=["element", "hydrogen", "none"])
@pytest.mark.parametrize("locale", ["ja", "en"])
def test_every_notice_about_a_message_fits_a_phone(presentation: Presentation, locale: str) -> None:
    """PII and screenshot warnings, deletions, moderator and admin notices: the visible text
    has no unbroken run longer than a 390 px line (ids hide behind link words)."""
    text = "マイナンバー 1234 5678 9018"
    finding = scan(text)[0]
    where = {"room": "住民対応", "link": EventLink(ROOM, EVENT)}
    kinds = kind_names(["my_number", "phone"])
    user = "@tanaka.hanako:city-a.localhost"
    messages = [
        Message("pii.warning", {"kinds": kinds, **where}),
        Message("pii.redacted", {"kinds": kinds, **where}),
        Message("pii.moderator_notice", {"user": user, "kinds": kinds, **where}),
        Message("pii.admin_notice", {"findings": [Message("pii.preview", {
            "kind": Message("pii.kind.my_number"), "masked": mask_preview("my_number", text, finding)})],
            "user": user, "action": Message("pii.action.warn"), **where}),
        Message("shots.warning", {"what": Message("shots.what.screenshot"), **where}),
        Message("shots.redacted", {"what": Message("shots.what.screenshot"), **where}),
        Message("shots.admin_notice", {"what": Message("shots.what.screenshot"), "user": user, "score": "0.93",
                                       "signals": "filename, screen", "action": Message("pii.action.warn"),
                                       **where}),
        Message("pii.warning", {"kinds": kinds, "room": Message("core.unnamed_room"), "link": EventLink(ROOM, EVENT)}),
    ]
    for m in messages:
        shown = visible(message_content([m], locale, presentation)["formatted_body"])
        assert longest_unbroken(shown) <= LONGEST, (m.key, shown)
        assert "{" not in shown, (m.key, shown)

"""Only ✅ confirms an offer (a PII deletion, an offboarding plan, a disposal): not 👍, ✔ or ☑️."""

from __future__ import annotations

import pytest

from appservice.core.events import parse_event
from appservice.core.offers_policy import accepted_target


def reaction(key: str):
    return parse_event({"event_id": "$r", "room_id": "!r:x", "type": "m.reaction", "sender": "@a:x",
                        "origin_server_ts": 1,
                        "content": {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$offer", "key": key}}})


@pytest.mark.parametrize("key", ["✅", "✅\ufe0f"])
def test_check_mark_confirms(key: str) -> None:
    assert accepted_target(reaction(key)) == "$offer"


@pytest.mark.parametrize("key", ["👍", "✔", "✔️", "☑️", "☑", "✓", "ok", "✅✅", ""])
def test_other_reactions_do_not_confirm(key: str) -> None:
    assert accepted_target(reaction(key)) is None

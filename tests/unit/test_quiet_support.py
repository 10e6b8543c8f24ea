"""Shared fakes for the quiet-hours unit tests (no tests here): a Config, a read-only state,
and a push-rule store that behaves like Synapse 1.163 (checked in test_quiet_hours.py)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from appservice.core.config import AppserviceConfig, Config, HomeserverConfig
from appservice.matrix.client import MatrixError

SERVER = "city-a.example"
BOT = f"@_yakuba:{SERVER}"


def make_config(quiet: dict[str, Any] | None = None) -> Config:
    return Config(
        path=None,
        homeserver=HomeserverConfig(url="http://127.0.0.1:1", server_name=SERVER),
        appservice=AppserviceConfig(id="yakuba", bind="127.0.0.1", port=9009, registration=Path("reg.yaml"),
                                    sender_localpart="_yakuba_appservice", bot_localpart="_yakuba",
                                    archive_localpart="_yakuba_archive", as_token="x", hs_token="y"),
        data_dir=Path("."), locale="ja", admins=(f"@admin:{SERVER}",), admin_room_encrypted=True,
        log_format="console", log_level="info", clock_file=None,
        features={"quiet_hours": quiet or {}})


class FakeState:
    def __init__(self, kv: dict[str, str] | None = None, dm_rooms: dict[str, str] | None = None) -> None:
        self.kv = kv or {}
        self.dm_rooms = dm_rooms or {}  # room -> owner

    async def get(self, key: str) -> str | None:
        return self.kv.get(key)

    async def is_dm_room(self, room_id: str) -> str | None:
        return self.dm_rooms.get(room_id)


MASTER = {"rule_id": ".m.rule.master", "default": True, "enabled": False, "conditions": [], "actions": []}
SUPPRESS = {"rule_id": ".m.rule.suppress_notices", "default": True, "enabled": True,
            "conditions": [{"kind": "event_match", "key": "content.msgtype", "pattern": "m.notice"}],
            "actions": []}


class FakePushRules:
    """One user's override rules with Synapse's placement: a PUT without `before`/`after` puts
    the rule (new or rewritten) at the top of the user's rules; `after=X` right below X; a
    rewrite keeps the enabled flag; DELETE of a missing rule is 404."""

    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []

    def listing(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(MASTER), *copy.deepcopy(self.rules), copy.deepcopy(SUPPRESS)]

    def index(self, rule_id: str) -> int:
        for i, r in enumerate(self.rules):
            if r["rule_id"] == rule_id:
                return i
        return -1

    def put(self, rule_id: str, body: dict[str, Any], before: str | None = None, after: str | None = None) -> None:
        old = self.index(rule_id)
        enabled = self.rules[old]["enabled"] if old >= 0 else True
        if old >= 0:
            self.rules.pop(old)
        rule = {"rule_id": rule_id, "default": False, "enabled": enabled,
                "conditions": copy.deepcopy(body.get("conditions", [])), "actions": copy.deepcopy(body["actions"])}
        anchor = before or after
        if anchor:
            at = self.index(anchor)
            if at < 0:
                raise MatrixError(400, "M_UNKNOWN", "before/after rule not found", "PUT", rule_id)
            self.rules.insert(at if before else at + 1, rule)
        else:
            self.rules.insert(0, rule)

    def delete(self, rule_id: str) -> None:
        at = self.index(rule_id)
        if at < 0:
            raise MatrixError(404, "M_NOT_FOUND", "no rule", "DELETE", rule_id)
        self.rules.pop(at)

    def enable(self, rule_id: str, enabled: bool) -> None:
        at = self.index(rule_id)
        if at < 0:
            raise MatrixError(404, "M_NOT_FOUND", "no rule", "PUT", rule_id)
        self.rules[at]["enabled"] = enabled

    def ids(self) -> list[str]:
        return [r["rule_id"] for r in self.rules]


class FakeClient:
    """The slice of MatrixClient.request the reconciler uses, over FakePushRules per user."""

    sender = BOT

    def __init__(self, users: list[dict[str, Any]], *, forbidden: set[str] | None = None,
                 members: dict[str, list[str]] | None = None, aliases: dict[str, str] | None = None) -> None:
        self.users = users
        self.rules: dict[str, FakePushRules] = {}
        self.forbidden = forbidden or set()
        self.members = members or {}
        self.aliases = aliases or {}
        self.calls: list[tuple[str, str, str | None]] = []

    def of(self, user: str) -> FakePushRules:
        return self.rules.setdefault(user, FakePushRules())

    async def request(self, method: str, path: str, *, json: Any = None, params: dict[str, str] | None = None,
                      as_user: str | None = None, retries: int = 3) -> dict[str, Any]:
        self.calls.append((method, path, as_user))
        params = params or {}
        if path == "/_synapse/admin/v2/users":
            start, limit = int(params.get("from", "0")), int(params.get("limit", "100"))
            page = self.users[start:start + limit]
            body: dict[str, Any] = {"users": page, "total": len(self.users)}
            if start + limit < len(self.users):
                body["next_token"] = str(start + len(page))
            return body
        if path.startswith("/_matrix/client/v3/directory/room/"):
            alias = unquote(path.rsplit("/", 1)[1])
            if alias not in self.aliases:
                raise MatrixError(404, "M_NOT_FOUND", "no alias", method, path)
            return {"room_id": self.aliases[alias]}
        if path.startswith("/_synapse/admin/v1/rooms/") and path.endswith("/members"):
            room = unquote(path.split("/")[5])
            return {"members": self.members.get(room, [])}
        user = as_user or self.sender
        if user in self.forbidden:
            raise MatrixError(403, "M_FORBIDDEN", "not in namespace", method, path)
        store = self.of(user)
        if path == "/_matrix/client/v3/pushrules/" and method == "GET":
            return {"global": {"override": store.listing(), "content": [], "room": [], "sender": [],
                               "underride": []}}
        prefix = "/_matrix/client/v3/pushrules/global/override/"
        assert path.startswith(prefix), path
        rest = path[len(prefix):]
        if rest.endswith("/enabled"):
            store.enable(unquote(rest[: -len("/enabled")]), bool(json["enabled"]))
        elif method == "PUT":
            store.put(unquote(rest), json, before=params.get("before"), after=params.get("after"))
        elif method == "DELETE":
            store.delete(unquote(rest))
        return {}

"""Pure planning: who is an admin of a room, what a leaver's departure does to each room,
argument and date parsing, and the refusal rules. No I/O here — execute.py fetches the state
and the user records and hands them in, so every rule is unit-tested on plain data.

Room admins. An admin is a joined local user with power ≥ 100. In room version 12 (and later,
and `org.matrix.hydra.11`) the creators — the sender of `m.room.create` plus its
`content.additional_creators` — have "creator power", above any number, and are NOT listed in
`m.room.power_levels.users`; they count as admins. Before v12 a room without a power-levels
event gives its creator 100. Bots (Yakuba's own users) and people who are leaving too (other
offboarding jobs) do not count as "another admin": otherwise two leavers who share a room
would each rely on the other and the room would end up with nobody.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, tzinfo
from typing import Any

ADMIN_POWER = 100
CREATOR_POWER = float("inf")

# Localparts: the spec's historical grammar (printable ASCII without ':'); server: host[:port].
_USER = re.compile(r"^@([\x21-\x39\x3b-\x7e]+):([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")
_LOCALPART = re.compile(r"^[\x21-\x39\x3b-\x7e]+$")


class ArgError(ValueError):
    """A user error with a catalog key (rendered in the admin's locale by the caller)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


# -- rooms ------------------------------------------------------------------------------------

def creator_power_version(version: str) -> bool:
    """True for room versions where creators have creator power (MSC4289)."""
    return version == "org.matrix.hydra.11" or (version.isdigit() and int(version) >= 12)


def _int(value: Any, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


@dataclass(frozen=True)
class RoomFacts:
    room_id: str
    name: str | None
    version: str
    creators: tuple[str, ...]          # have creator power (v12+ only)
    legacy_creator: str | None          # pre-v12 creator: 100 when there is no power-levels event
    has_power_levels: bool
    users: Mapping[str, int]            # power_levels.users
    users_default: int
    members: Mapping[str, str]          # user id -> membership
    join_rule: str
    encrypted: bool

    def power(self, user_id: str) -> float:
        if user_id in self.creators:
            return CREATOR_POWER
        if not self.has_power_levels:
            return ADMIN_POWER if user_id == self.legacy_creator else 0
        return self.users.get(user_id, self.users_default)

    def is_admin(self, user_id: str) -> bool:
        return self.power(user_id) >= ADMIN_POWER

    def membership(self, user_id: str) -> str | None:
        return self.members.get(user_id)

    def label(self) -> str:
        return self.name or self.room_id


def room_facts(room_id: str, state: Iterable[Mapping[str, Any]]) -> RoomFacts:
    """Build the facts from a room's current state events (admin API `rooms/<id>/state`)."""
    create: Mapping[str, Any] = {}
    create_sender = ""
    pl: Mapping[str, Any] | None = None
    members: dict[str, str] = {}
    name = alias = None
    join_rule = "invite"
    encrypted = False
    for ev in state:
        etype, key, content = ev.get("type"), ev.get("state_key"), ev.get("content")
        if not isinstance(content, Mapping) or not isinstance(key, str):
            continue
        if etype == "m.room.create" and key == "":
            create, create_sender = content, str(ev.get("sender", ""))
        elif etype == "m.room.power_levels" and key == "":
            pl = content
        elif etype == "m.room.member" and isinstance(content.get("membership"), str):
            members[key] = content["membership"]
        elif etype == "m.room.name" and key == "" and isinstance(content.get("name"), str):
            name = content["name"] or None
        elif etype == "m.room.canonical_alias" and key == "" and isinstance(content.get("alias"), str):
            alias = content["alias"]
        elif etype == "m.room.join_rules" and key == "" and isinstance(content.get("join_rule"), str):
            join_rule = content["join_rule"]
        elif etype == "m.room.encryption" and key == "":
            encrypted = True
    version = str(create.get("room_version", "1"))
    creators: tuple[str, ...] = ()
    if creator_power_version(version):
        extra = create.get("additional_creators")
        extra_ids = [u for u in extra if isinstance(u, str)] if isinstance(extra, list) else []
        creators = tuple(dict.fromkeys([create_sender, *extra_ids]))
    legacy = create.get("creator") if isinstance(create.get("creator"), str) else create_sender or None
    users: dict[str, int] = {}
    if pl is not None and isinstance(pl.get("users"), Mapping):
        users = {str(u): _int(v, 0) for u, v in pl["users"].items()}
    return RoomFacts(
        room_id=room_id, name=name or alias, version=version, creators=creators,
        legacy_creator=legacy, has_power_levels=pl is not None, users=users,
        users_default=_int(pl.get("users_default"), 0) if pl is not None else 0,
        members=members, join_rule=join_rule, encrypted=encrypted,
    )


def local_admins(facts: RoomFacts, is_local: Callable[[str], bool], *,
                 exclude: Collection[str] = ()) -> list[str]:
    """Joined local users with admin power (creators included), minus `exclude`."""
    candidates = set(facts.users) | set(facts.creators)
    if facts.legacy_creator:
        candidates.add(facts.legacy_creator)
    return sorted(u for u in candidates
                  if u not in exclude and is_local(u) and facts.membership(u) == "join"
                  and facts.is_admin(u))


# What offboarding does in a room.
NOTHING = "nothing"        # the leaver is no admin here, or another local admin stays
HANDOVER = "handover"      # the leaver is the last local admin: the successor gets power 100
ORPHANED = "orphaned"      # the leaver is the last local admin and there is no successor


@dataclass(frozen=True)
class RoomPlan:
    room_id: str
    label: str
    action: str
    leaver_creator: bool
    leaver_admin: bool
    other_admins: tuple[str, ...]
    successor_membership: str | None   # join / invite / leave / ban / None
    successor_power: float = 0

    @property
    def successor_needs_power(self) -> bool:
        return self.action == HANDOVER and self.successor_power < ADMIN_POWER

    @property
    def successor_needs_join(self) -> bool:
        return self.action == HANDOVER and self.successor_membership != "join"


def plan_room(facts: RoomFacts, leaver: str, successor: str | None, is_local: Callable[[str], bool],
              *, not_admins: Collection[str] = ()) -> RoomPlan:
    """`not_admins`: users who do not count as another admin (bots, other leavers)."""
    leaver_admin = facts.is_admin(leaver)
    exclude = {leaver, *not_admins}
    others = tuple(local_admins(facts, is_local, exclude=exclude))
    if not leaver_admin or others:
        action = NOTHING
    else:
        action = HANDOVER if successor else ORPHANED
    return RoomPlan(
        room_id=facts.room_id, label=facts.label(), action=action,
        leaver_creator=leaver in facts.creators, leaver_admin=leaver_admin, other_admins=others,
        successor_membership=facts.membership(successor) if successor else None,
        successor_power=facts.power(successor) if successor else 0,
    )


@dataclass(frozen=True)
class UserPlan:
    user: str
    successor: str | None
    due: datetime | None
    erase: bool
    rooms: tuple[RoomPlan, ...] = ()
    refusal: str | None = None          # catalog key: this user is not offboarded
    skip: str | None = None             # catalog key: nothing to do (already done/scheduled)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.refusal is None and self.skip is None

    @property
    def handovers(self) -> list[RoomPlan]:
        return [r for r in self.rooms if r.action == HANDOVER]

    @property
    def orphaned(self) -> list[RoomPlan]:
        return [r for r in self.rooms if r.action == ORPHANED]


# -- users and refusals -----------------------------------------------------------------------

def normalize_user(value: str, server_name: str, *, allow_bare: bool = False) -> str:
    """`@name:server` as given; `@name` (and with allow_bare, `name`) on the local server.
    Full-width characters typed on a Japanese keyboard are folded (ＮＦＫＣ)."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not text.startswith("@"):
        if not allow_bare:
            raise ArgError("offboarding.err.bad_user", value=value[:80])
        text = "@" + text
    if ":" not in text and _LOCALPART.match(text[1:]):
        text = f"{text}:{server_name}"
    if not _USER.match(text):
        raise ArgError("offboarding.err.bad_user", value=value[:80])
    return text


def server_of(user_id: str) -> str:
    return user_id.split(":", 1)[1]


def is_yakuba_bot(user_id: str, bot_ids: Collection[str], bot_localpart: str) -> bool:
    """Yakuba's own users: the configured ids and the exclusive `@_yakuba*` namespace."""
    return user_id in bot_ids or user_id[1:].split(":", 1)[0].startswith(bot_localpart)


def refusal(user_id: str, info: Mapping[str, Any] | None, *, server_name: str, is_bot: bool,
            other_usable_admins: int | None, action: str) -> tuple[str | None, str | None]:
    """(refusal key, skip key) for acting on a user; both None when it may proceed.

    `action` is offboard / lock / unlock / logout / suspend / unsuspend.
    `other_usable_admins`: server admins other than this user that are neither deactivated,
    locked nor bots — None when not known (only needed if the user is a server admin)."""
    if server_of(user_id) != server_name:
        return "offboarding.refused.remote", None
    if is_bot:
        return "offboarding.refused.bot", None
    if info is None:
        return "offboarding.refused.unknown", None
    if info.get("deactivated"):
        if action == "offboard":
            return None, "offboarding.skip.deactivated"
        return "offboarding.refused.deactivated", None
    if (action in ("offboard", "lock", "suspend") and info.get("admin")
            and other_usable_admins is not None and other_usable_admins < 1):
        return "offboarding.refused.last_admin", None
    return None, None


# -- dates ------------------------------------------------------------------------------------

_WHEN = re.compile(
    r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$")


def parse_when(text: str, tz: tzinfo, default_time: time) -> datetime:
    """`2027-03-31T17:15`, `2027-03-31 17:15`, `2027/3/31 17:15` (Excel), `2027年3月31日 17:15`,
    with an optional offset (`+09:00`, `Z`); without one, in `tz`. A date alone means
    `default_time` that day. Returns an aware datetime."""
    s = unicodedata.normalize("NFKC", text).strip()
    s = re.sub(r"(\d)年(\d)", r"\1-\2", s)
    s = re.sub(r"(\d)月(\d)", r"\1-\2", s)
    s = s.replace("日", " ").strip()
    m = _WHEN.match(s)
    if not m:
        raise ArgError("offboarding.err.bad_time", value=text[:40])
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        hh, mm, ss = default_time.hour, default_time.minute, 0
    else:
        hh, mm, ss = int(m[4]), int(m[5]), int(m[6] or 0)
    zone: tzinfo = tz
    if m[7]:
        if m[7] == "Z":
            zone = UTC
        else:
            off = m[7].replace(":", "")
            try:
                zone = datetime.strptime(off, "%z").tzinfo or tz
            except ValueError:
                raise ArgError("offboarding.err.bad_time", value=text[:40]) from None
    try:
        return datetime(y, mo, d, hh, mm, ss, tzinfo=zone)
    except ValueError:
        raise ArgError("offboarding.err.bad_time", value=text[:40]) from None


# -- commands ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class OffboardArgs:
    user: str | None
    successor: str | None
    at: datetime | None
    erase: bool
    csv: bool


def parse_offboard_args(args: Iterable[str], *, server_name: str, tz: tzinfo, now: datetime,
                        default_time: time) -> OffboardArgs:
    """`@user [--successor @u2] [--at WHEN] [--erase]` or `--csv [--erase]`."""
    user = successor = None
    at: datetime | None = None
    erase = csv = False
    items = list(args)
    i = 0
    while i < len(items):
        a = items[i]
        if a in ("--successor", "--at"):
            if i + 1 >= len(items) or items[i + 1].startswith("--"):
                raise ArgError("offboarding.err.missing_value", option=a)
            value = items[i + 1]
            if a == "--successor":
                if successor is not None:
                    raise ArgError("offboarding.err.repeated", option=a)
                successor = normalize_user(value, server_name)
            else:
                if at is not None:
                    raise ArgError("offboarding.err.repeated", option=a)
                at = parse_when(value, tz, default_time)
            i += 2
            continue
        if a.startswith("--successor=") or a.startswith("--at="):
            items[i:i + 1] = a.split("=", 1)
            continue
        if a == "--erase":
            erase = True
        elif a == "--csv":
            csv = True
        elif a.startswith("-"):
            raise ArgError("offboarding.err.unknown_option", option=a[:40])
        elif user is None:
            user = normalize_user(a, server_name)
        else:
            raise ArgError("offboarding.err.extra_argument", value=a[:80])
        i += 1
    if csv:
        if user or successor or at:
            raise ArgError("offboarding.err.csv_alone")
    elif user is None:
        raise ArgError("offboarding.err.missing_user")
    if user and successor == user:
        raise ArgError("offboarding.err.successor_is_user")
    if at is not None and at <= now:
        raise ArgError("offboarding.err.past", when=at.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
    return OffboardArgs(user, successor, at, erase, csv)


def parse_target(args: Iterable[str], *, server_name: str, reason: str = "none",
                 flags: Collection[str] = ()) -> tuple[str, str, set[str]]:
    """`@user [flags…] [reason…]` → (user, reason, flags given). `reason`: none / optional /
    required (free text after the user, for the audit)."""
    items = list(args)
    if not items:
        raise ArgError("offboarding.err.missing_user")
    user = normalize_user(items[0], server_name)
    given: set[str] = set()
    words: list[str] = []
    for a in items[1:]:
        if a in flags:
            given.add(a)
        elif a.startswith("--"):
            raise ArgError("offboarding.err.unknown_option", option=a[:40])
        else:
            words.append(a)
    text = " ".join(words).strip()
    if reason == "required" and not text:
        raise ArgError("offboarding.err.missing_reason")
    if reason == "none" and text:
        raise ArgError("offboarding.err.extra_argument", value=text[:80])
    return user, text[:500], given


# -- mentions ---------------------------------------------------------------------------------
# The args are split from the plain body. When an admin picks a user from the autocomplete, the
# body holds the text the pill shows — a display name, which anyone can set to look like a
# user id ("@bob:city-a" for @mallory:city-a) — and the pill's link holds the real id. So:
# a pill whose shown text is in the args stands for the user it links to; a pill showing a
# user id other than its own, a pill whose text is not in the body, or a user id in the args
# that is none of the users the message mentions, is refused: nobody acts on a guess.

def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _find_words(items: list[str], words: list[str], start: int) -> int | None:
    n = len(words)
    for i in [*range(start, len(items) - n + 1), *range(0, min(start, len(items) - n + 1))]:
        if [_fold(x) for x in items[i:i + n]] == words:
            return i
    return None


def resolve_mentions(args: Iterable[str], *, pills: Iterable[tuple[str, str]], server_name: str) -> tuple[str, ...]:
    """Replace each pill's shown text in the args by the user id it links to (the text may be
    one quoted argument or several words). Raises ArgError when a pill shows a user id that is
    not its own, or its text is not in the body."""
    items = list(args)
    start = 0
    for user_id, shown in pills:
        text = _fold(shown)
        if not text:
            continue
        if text.startswith("@"):
            try:
                same = normalize_user(text, server_name) == user_id
            except ArgError:
                same = False
            if not same:
                raise ArgError("offboarding.err.mention_mismatch", text=text[:80], user=user_id)
        at = _find_words(items, [text], start)
        n = 1
        if at is None:
            words = text.split()
            at, n = _find_words(items, words, start), len(words)
        if at is None:
            raise ArgError("offboarding.err.mention_missing", text=text[:80], user=user_id)
        items[at:at + n] = [user_id]
        start = at + 1
    return tuple(items)


def check_mentioned(users: Iterable[str | None], *, mentioned: Collection[str]) -> None:
    """When the message mentions anybody, every user the command names must be one of them."""
    if not mentioned:
        return
    for user in users:
        if user is not None and user not in mentioned:
            raise ArgError("offboarding.err.not_mentioned", value=user[:80],
                           mentioned=", ".join(sorted(mentioned))[:300])


def confirm_refusal(*, status: str, requester: str, confirmer: str, four_eyes: bool,
                    now_ts: float, expires_at: float) -> str | None:
    """Why `confirmer` may not confirm a plan (catalog key), or None."""
    if status == "confirmed":
        return "offboarding.confirm.already"
    if status == "cancelled":
        return "offboarding.confirm.cancelled"
    if status != "pending":
        return "offboarding.confirm.unknown"
    if now_ts > expires_at:
        return "offboarding.confirm.expired"
    if four_eyes and confirmer == requester:
        return "offboarding.confirm.four_eyes"
    return None

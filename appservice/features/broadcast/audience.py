"""Who a broadcast reaches (pure): `all`, `dept:<name>`, `partners`, `partner:<server or name>`,
comma-separated. Departments come from the staff directory; partners from federation.partners.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from appservice.core.config import Partner


class AudienceError(ValueError):
    """What the admin typed does not name an audience; str() is the offending part."""

    def __init__(self, key: str, value: str) -> None:
        super().__init__(value)
        self.key = key
        self.value = value


@dataclass(frozen=True)
class Audience:
    everyone: bool = False
    departments: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()   # server names

    @property
    def local(self) -> bool:
        return self.everyone or bool(self.departments)


@dataclass
class Recipients:
    users: dict[str, str] = field(default_factory=dict)      # user id → department ("-" if none)
    partners: dict[str, str] = field(default_factory=dict)   # server → liaison room


def parse_audience(spec: str, partners: Iterable[Partner]) -> Audience:
    known = list(partners)
    everyone = False
    depts: list[str] = []
    servers: list[str] = []
    for raw in spec.split(","):
        token = raw.strip()
        if not token:
            continue
        low = token.lower()
        if low in ("all", "全員", "全職員"):
            everyone = True
        elif low.startswith(("dept:", "部署:")):
            name = token.split(":", 1)[1].strip()
            if not name:
                raise AudienceError("broadcast.error.empty_department", token)
            depts.append(name)
        elif low in ("partners", "連携先"):
            servers.extend(p.server for p in known)
        elif low.startswith(("partner:", "連携先:")):
            name = token.split(":", 1)[1].strip()
            match = next((p for p in known if name in (p.server, p.name, p.name_en)), None)
            if match is None:
                raise AudienceError("broadcast.error.unknown_partner", name[:80])
            servers.append(match.server)
        else:
            raise AudienceError("broadcast.error.unknown_audience", token[:80])
    if not (everyone or depts or servers):
        raise AudienceError("broadcast.error.empty_audience", spec[:80])
    return Audience(everyone, tuple(dict.fromkeys(depts)), tuple(dict.fromkeys(servers)))


def in_department(department: str, wanted: str) -> bool:
    """「総務課」 matches 「総務部 総務課」: the whole name or one of its space-separated parts."""
    return wanted == department or wanted in department.split()


def local_recipients(audience: Audience, staff: Iterable[str], directory: Mapping[str, str]) -> dict[str, str]:
    """staff: every active local user; directory: user id → department. Unknown departments
    are reported by the caller (an empty match is an error, not a silent zero)."""
    out: dict[str, str] = {}
    for user in staff:
        dept = directory.get(user, "")
        if audience.everyone or any(in_department(dept, d) for d in audience.departments):
            out[user] = dept or "-"
    return out


def unknown_departments(audience: Audience, directory: Mapping[str, str]) -> list[str]:
    depts = set(directory.values())
    return [d for d in audience.departments if not any(in_department(x, d) for x in depts)]

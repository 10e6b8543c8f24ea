"""Retention periods under the Japanese public-records rules.

保存期間の起算日は「作成・取得した日の属する年度の翌年度の4月1日」.  A record created on
2024-05-10 (FY2024) starts counting on 2025-04-01; with a 1-year period it expires on
2026-03-31 and may be disposed of from 2026-04-01.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from .record import JST

ALLOWED_YEARS = (1, 3, 5, 10, 30)


@dataclass(frozen=True)
class RetentionPolicy:
    years: int
    category: str = ""  # 分類 (e.g. 行政文書ファイル管理簿の分類)
    department: str = ""  # 主管部署

    def __post_init__(self) -> None:
        if self.years not in ALLOWED_YEARS:
            raise ValueError(f"retention years must be one of {ALLOWED_YEARS}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetentionPolicy:
        return cls(int(data["years"]), str(data.get("category") or ""),
                   str(data.get("department") or ""))


def fiscal_year(day: date) -> int:
    """Japanese fiscal year (年度): April–March, named after the April."""
    return day.year if day.month >= 4 else day.year - 1


def jst_date(moment: datetime | str) -> date:
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(JST).date()


def retention_start(created: date) -> date:
    """起算日: April 1 of the fiscal year after creation."""
    return date(fiscal_year(created) + 1, 4, 1)


def retention_expiry(created: date, years: int) -> date:
    """First day on which disposal is allowed (the day after 保存期間満了日, a March 31)."""
    return date(fiscal_year(created) + 1 + years, 4, 1)


def expiry_datetime(created: date, years: int) -> datetime:
    """The same moment as an aware datetime (00:00 JST), for Object Lock retain-until."""
    d = retention_expiry(created, years)
    return datetime(d.year, d.month, d.day, tzinfo=JST)


def is_due(created: date, years: int, now: datetime) -> bool:
    return jst_date(now) >= retention_expiry(created, years)

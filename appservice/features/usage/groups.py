"""Privacy by construction: departments with fewer than `min_group_size` people are merged into
one group, 「その他」 (Other), so that no number in a report is about fewer people than that.

- A department's size is its headcount in the staff directory.
- 「その他」 holds the small departments, staff not in the directory (or listed without a
  department) and departments no longer in it; its size is their headcount plus the people not
  in the directory who were active in the period.
- If 「その他」 then has people (or activity) but is itself smaller than the threshold, the
  smallest remaining departments join it until it is not: a total minus the shown departments
  can never be about fewer people than the threshold either.
Pure: counts in, a department → group mapping out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

OTHER = "\x00other"     # the merged group; shown as 「その他」 / "Other" (a department cannot be named so)
UNREGISTERED = ""       # the department of someone not in the staff directory


def merge(headcounts: Mapping[str, int], min_size: int, *, active_departments: Iterable[str] = (),
          unlisted_people: int = 0) -> dict[str, str]:
    """department → the group it is reported in (itself, or OTHER). A department absent from
    the mapping (not in the directory) belongs to OTHER: use `group_of`.

    `active_departments`: departments with any count in the period (activity of departments
    not in the directory lands in OTHER); `unlisted_people`: people not in the directory who
    were active (they count towards OTHER's size)."""
    small = {d for d, n in headcounts.items() if d == UNREGISTERED or n < min_size}
    shown = sorted((d for d in headcounts if d not in small), key=lambda d: (headcounts[d], d))
    size = sum(headcounts[d] for d in small) + unlisted_people
    other_used = size > 0 or any(d not in headcounts or d in small for d in active_departments)
    while other_used and size < min_size and shown:
        d = shown.pop(0)
        small.add(d)
        size += headcounts[d]
    return {**{d: OTHER for d in small}, **{d: d for d in shown}}


def group_of(mapping: Mapping[str, str], department: str) -> str:
    return mapping.get(department, OTHER)

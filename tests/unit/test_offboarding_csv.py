"""The bulk CSV: encodings Excel produces, headers, per-line errors."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from appservice.features.offboarding.csvfile import MAX_ROWS, parse_csv
from appservice.features.offboarding.plan import ArgError

S = "city-a.localhost"
TZ = ZoneInfo("Asia/Tokyo")


def parse(data):
    return parse_csv(data, server_name=S, tz=TZ, default_time=time(18, 0))


TEXT = ("user,leaving,successor\r\n"
        "@tanaka:city-a.localhost,2027-03-31 17:15,@suzuki:city-a.localhost\r\n"
        "sato,2027/3/31,\r\n"
        "@kato:city-a.localhost,,\r\n")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "utf-16"])
def test_encodings(encoding):
    data = TEXT.replace("leaving", "退職日時").encode(encoding)
    rows = parse(data)
    assert [r.user for r in rows] == [f"@tanaka:{S}", f"@sato:{S}", f"@kato:{S}"]
    assert rows[0].when == datetime(2027, 3, 31, 17, 15, tzinfo=TZ)
    assert rows[0].successor == f"@suzuki:{S}"
    assert rows[1].when == datetime(2027, 3, 31, 18, 0, tzinfo=TZ) and rows[1].successor is None
    assert rows[2].when is None
    assert all(r.error is None for r in rows)


def test_japanese_header_semicolons_and_tabs():
    for sep in (";", "\t"):
        data = f"ユーザー{sep}退職日時{sep}後任\n@a:{S}{sep}2027-03-31T17:00{sep}@b:{S}\n".encode()
        rows = parse(data)
        assert len(rows) == 1 and rows[0].user == f"@a:{S}" and rows[0].successor == f"@b:{S}"


def test_no_header_comments_and_blank_lines():
    rows = parse(f"# 3月末の退職者\n\n@a:{S},2027-03-31 17:00,@b:{S}\n,,\n@c:{S}\n")
    assert [r.user for r in rows] == [f"@a:{S}", f"@c:{S}"]


def test_unknown_header_is_skipped_because_its_date_column_is_no_date():
    rows = parse(f"Account,Leaving day,Next\n@a:{S},2027-03-31,\n")
    assert [r.user for r in rows] == [f"@a:{S}"]


def test_bad_lines_are_reported_with_line_numbers():
    rows = parse("user,leaving,successor\n"
                 f"@a:{S},someday,\n"
                 f"not a user,,\n"
                 f"@b:{S},,@b:{S}\n"
                 f"@c:{S},,,extra\n"
                 f"@a:{S},,\n"
                 f"@d:{S},,\n")
    keys = [(r.line, r.error.key if r.error else None) for r in rows]
    assert keys == [(2, "offboarding.err.bad_time"), (3, "offboarding.err.bad_user"),
                    (4, "offboarding.err.successor_is_user"), (5, "offboarding.err.csv_columns"),
                    (6, None), (7, None)]
    dup = parse(f"@a:{S},,\n@a:{S},,\n")
    assert dup[1].error.key == "offboarding.err.csv_duplicate" and dup[1].error.params == {"line": 1}


def test_quoted_fields_from_excel():
    rows = parse(f'"@a:{S}","2027/03/31 17:15","@b:{S}"\n')
    assert rows[0].successor == f"@b:{S}"


def test_limits_and_garbage():
    with pytest.raises(ArgError) as exc:
        parse(b"\xff\xfe\x00\xd8")  # UTF-16 BOM then a lone surrogate
    assert exc.value.key == "offboarding.err.csv_encoding"
    big = "".join(f"u{i},,\n" for i in range(MAX_ROWS + 1))
    with pytest.raises(ArgError) as exc:
        parse(big)
    assert exc.value.key == "offboarding.err.csv_too_many"
    assert parse(b"") == []

"""`yakuba scan` (appservice.lib.pii.cli.scan_main): plain and JSONL modes."""

from __future__ import annotations

import io
import json

from appservice.lib.pii.cli import scan_main


def run(argv: list[str], data: str | bytes) -> tuple[int, list[dict]]:
    stdin = (io.TextIOWrapper(io.BytesIO(data), encoding="utf-8") if isinstance(data, bytes)
             else io.StringIO(data))
    stdout = io.StringIO()
    rc = scan_main(argv, stdin, stdout)
    return rc, [json.loads(line) for line in stdout.getvalue().splitlines()]


def test_plain_stdin_is_one_input() -> None:
    rc, out = run([], "一行目\nマイナンバーは123456789018です\n")
    assert rc == 0
    assert out == [{"id": None, "findings": [
        {"kind": "my_number", "start": 11, "end": 23, "confidence": 0.97}]}]


def test_plain_empty_input() -> None:
    assert run([], "") == (0, [{"id": None, "findings": []}])


def test_jsonl_one_line_per_record_and_errors_continue() -> None:
    data = "\n".join([
        json.dumps({"id": "m1", "text": "TEL 090-1234-5678"}, ensure_ascii=False),
        "not json",
        "[1, 2]",
        json.dumps({"id": 7, "text": 5}),
        "",
        json.dumps({"id": None, "text": "何もなし"}, ensure_ascii=False),
    ]) + "\n"
    rc, out = run(["--jsonl"], data)
    assert rc == 0
    assert out[0] == {"id": "m1", "findings": [
        {"kind": "phone", "start": 4, "end": 17, "confidence": 0.95}]}
    assert out[1]["id"] is None and "error" in out[1]
    assert out[2]["id"] is None and "error" in out[2]
    assert out[3]["id"] == 7 and "error" in out[3]
    assert out[4] == {"id": None, "findings": []}
    assert len(out) == 5


def test_output_never_contains_the_text() -> None:
    secret = "123456789018"
    _, out = run(["--jsonl"], json.dumps({"id": 1, "text": f"マイナンバー{secret}"}) + "\nbad\n")
    assert secret not in json.dumps(out)


def test_invalid_utf8_and_surrogates_do_not_crash() -> None:
    rc, out = run([], b"\xff\xfe TEL 090-1234-5678")
    assert rc == 0 and out[0]["findings"][0]["kind"] == "phone"
    rc, out = run(["--jsonl"], b'{"id": "\\ud800", "text": "\\udfff a@example.jp"}\n\xff\n')
    assert rc == 0
    assert out[0]["id"] == "\ud800" and out[0]["findings"][0]["kind"] == "email"
    assert "error" in out[1]


def test_truncation_is_reported() -> None:
    rc, out = run(["--max-chars", "10"], "あ" * 20 + "TEL 090-1234-5678")
    assert rc == 0
    assert out == [{"id": None, "findings": [], "truncated": True}]

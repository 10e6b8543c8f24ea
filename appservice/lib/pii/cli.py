"""`yakuba scan`: run the scanner over stdin and print findings as JSON lines.

    echo "マイナンバーは123456789018です" | yakuba scan
    {"id": null, "findings": [{"kind": "my_number", "start": 7, "end": 19, "confidence": 0.97}]}

    yakuba scan --jsonl < messages.jsonl      # one {"id": ..., "text": ...} per line

Output never contains the scanned text, only kinds and offsets. Malformed JSONL lines give
{"id": ..., "error": "..."} and the run goes on; the exit status is 0.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any, TextIO

from .scanner import scan

DEFAULT_MAX_CHARS = 100_000


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="yakuba scan",
        description="Detect Japanese personal data (My Number, phone, …) in text from stdin.",
    )
    p.add_argument("--jsonl", action="store_true",
                   help='read one {"id": ..., "text": ...} object per line')
    p.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS,
                   help="scan at most this many characters of each text (default %(default)s)")
    return p


def _read_all(stdin: TextIO) -> str:
    # Bytes that are not UTF-8 become U+FFFD instead of aborting the whole run.
    buf = getattr(stdin, "buffer", None)
    if buf is not None:
        return buf.read().decode("utf-8", "replace")
    return stdin.read()


def _lines(stdin: TextIO) -> Iterator[str]:
    buf = getattr(stdin, "buffer", None)
    if buf is not None:
        for raw in buf:
            yield raw.decode("utf-8", "replace")
    else:
        yield from stdin


def _result(id_: Any, text: str, max_chars: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": id_,
        "findings": [f.to_json() for f in scan(text, max_chars=max_chars)],
    }
    if len(text) > max_chars:
        out["truncated"] = True  # only the first max_chars characters were scanned
    return out


def _jsonl_record(line: str, lineno: int, max_chars: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except ValueError:
        return {"id": None, "error": f"line {lineno}: not valid JSON"}
    if not isinstance(obj, dict):
        return {"id": None, "error": f"line {lineno}: expected a JSON object"}
    text = obj.get("text")
    if not isinstance(text, str):
        return {"id": obj.get("id"), "error": f'line {lineno}: "text" must be a string'}
    return _result(obj.get("id"), text, max_chars)


def _emit(stdout: TextIO, obj: dict[str, Any]) -> None:
    # ensure_ascii: ids may carry lone surrogates from JSON escapes; ASCII output always
    # encodes, whatever the terminal's encoding.
    stdout.write(json.dumps(obj, ensure_ascii=True) + "\n")
    stdout.flush()


def scan_main(argv: list[str], stdin: TextIO, stdout: TextIO) -> int:
    args = _parser().parse_args(argv)
    max_chars = max(0, args.max_chars)
    if not args.jsonl:
        _emit(stdout, _result(None, _read_all(stdin), max_chars))
        return 0
    for lineno, line in enumerate(_lines(stdin), start=1):
        if not line.strip():
            continue  # blank lines (a trailing newline) are not records
        _emit(stdout, _jsonl_record(line, lineno, max_chars))
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(scan_main(sys.argv[1:], sys.stdin, sys.stdout))

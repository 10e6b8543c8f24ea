"""The message catalogs against the code: every key the code asks for exists in ja and en, no
key is defined twice, ja and en agree, and no key sits unused.

Keys in code are found by reading the source with ast:
- asked for: the first argument of `Message(…)`, `t(…)` and `_text(…)` (workcal's wrapper) and
  `summary_key=…` — a literal, both branches of `a if c else b`, or an f-string;
- an f-string such as `Message(f"pii.kind.{k}")` is a pattern (each `{…}` stands for one or
  more key segments) that must match at least one key;
- used: a key is used if it appears as a string literal (or inside one, e.g. in SQL that stores
  a result key) anywhere in appservice/ or bots/, or matches one of those f-string patterns.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
import yaml

from appservice.core.i18n import LOCALES, catalog_files

ROOT = Path(__file__).resolve().parents[2]
CODE_DIRS = (ROOT / "appservice", ROOT / "bots")
KEY_CALLS = {"Message", "t", "_text"}
KEY_KEYWORDS = {"summary_key"}
KEY_SHAPE = re.compile(r"[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+)+")

# Keys built in ways the scan cannot follow (none today). Add an entry with where it is built:
#   "domain.some.key",  # built in appservice/… by …
DYNAMIC_KEYS: frozenset[str] = frozenset()


@cache
def definitions() -> dict[str, dict[str, list[Path]]]:
    """locale → key → the files that define it."""
    out: dict[str, dict[str, list[Path]]] = {}
    for locale in LOCALES:
        defined: dict[str, list[Path]] = defaultdict(list)
        for path in catalog_files(locale):
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            assert isinstance(data, dict), f"{path}: a catalog is a mapping of key: text"
            for key in data:
                defined[str(key)].append(path)
        out[locale] = dict(defined)
    return out


def all_keys() -> set[str]:
    return {k for locale in LOCALES for k in definitions()[locale]}


def domains() -> set[str]:
    return {k.split(".", 1)[0] for k in all_keys()}


def sources() -> list[Path]:
    return sorted(p for d in CODE_DIRS for p in d.rglob("*.py"))


def _pattern(node: ast.JoinedStr) -> re.Pattern[str] | None:
    """An f-string's key pattern, or None if it is not shaped like a catalog key."""
    parts: list[str] = []
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(re.escape(value.value))
        else:
            parts.append(r"[A-Za-z0-9_.]+")
    first = node.values[0] if node.values else None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None
    constants = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if first.value.split(".", 1)[0] not in domains() or "." not in first.value or re.search(r"[^a-z0-9_.]", constants):
        return None
    return re.compile("".join(parts))


def _key_args(node: ast.expr) -> list[ast.expr]:
    """The expressions that end up as the key: both branches of a conditional, etc."""
    if isinstance(node, ast.IfExp):
        return _key_args(node.body) + _key_args(node.orelse)
    if isinstance(node, ast.BoolOp):
        return [n for v in node.values for n in _key_args(v)]
    return [node]


@cache
def scan() -> tuple[set[str], list[tuple[str, str]], list[tuple[re.Pattern[str], str]]]:
    """(every string literal, keys asked for literally with where, f-string patterns with where)."""
    literals: set[str] = set()
    asked: list[tuple[str, str]] = []
    patterns: list[tuple[re.Pattern[str], str]] = []
    for path in sources():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        rel = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
                # A key inside a longer literal counts too (e.g. SQL storing a result key).
                literals.update(m.group(0) for m in KEY_SHAPE.finditer(node.value))
            elif isinstance(node, ast.JoinedStr):
                pattern = _pattern(node)
                if pattern is not None:
                    patterns.append((pattern, f"{rel}:{node.lineno}"))
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            args = [node.args[0]] if name in KEY_CALLS and node.args else []
            args += [kw.value for kw in node.keywords if kw.arg in KEY_KEYWORDS]
            for arg in (a for expr in args for a in _key_args(expr)):
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    asked.append((arg.value, f"{rel}:{node.lineno}"))
    return literals, asked, patterns


def test_the_scan_finds_catalogs_and_keys() -> None:
    assert all(definitions()[locale] for locale in LOCALES)
    literals, asked, patterns = scan()
    assert "core.feature_off" in literals
    assert len(asked) > 100
    assert any(p.pattern.startswith(r"pii\.kind\.") for p, _ in patterns)  # Message(f"pii.kind.{k}")


@pytest.mark.parametrize("locale", LOCALES)
def test_every_key_the_code_asks_for_exists(locale: str) -> None:
    _, asked, patterns = scan()
    defined = definitions()[locale]
    missing = sorted({f"{key} ({where})" for key, where in asked if key not in defined})
    assert missing == [], f"missing in {locale}"
    unmatched = sorted({f"{p.pattern} ({where})" for p, where in patterns
                        if not any(p.fullmatch(k) for k in defined)})
    assert unmatched == [], f"f-string keys matching nothing in {locale}"


@pytest.mark.parametrize("locale", LOCALES)
def test_no_key_is_defined_twice(locale: str) -> None:
    twice = {k: [str(p.relative_to(ROOT)) for p in paths]
             for k, paths in definitions()[locale].items() if len(paths) > 1}
    assert twice == {}


def test_ja_and_en_have_the_same_keys() -> None:
    ja, en = set(definitions()["ja"]), set(definitions()["en"])
    assert sorted(ja - en) == [], "in ja only"
    assert sorted(en - ja) == [], "in en only"


def test_every_catalog_file_has_its_other_locale() -> None:
    def stems(locale: str) -> set[str]:
        return {str(p.relative_to(ROOT)).removesuffix(f".{locale}.yaml") for p in catalog_files(locale)}

    assert stems("ja") == stems("en")


def test_keys_are_shaped_like_keys() -> None:
    bad = sorted(k for k in all_keys() if not KEY_SHAPE.fullmatch(k))
    assert bad == []


def test_no_key_is_unused() -> None:
    literals, _, patterns = scan()
    unused = sorted(k for k in all_keys()
                    if k not in literals and k not in DYNAMIC_KEYS and not any(p.fullmatch(k) for p, _ in patterns))
    assert unused == []


def test_the_dynamic_whitelist_is_still_needed() -> None:
    literals, _, patterns = scan()
    stale = sorted(k for k in DYNAMIC_KEYS
                   if k not in all_keys() or k in literals or any(p.fullmatch(k) for p, _ in patterns))
    assert stale == []

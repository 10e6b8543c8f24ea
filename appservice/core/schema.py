"""One way to validate a config section: declare its keys, get typed values or a ConfigError
that names the key.

    BOTS = Schema("bots", {
        "enabled": Bool(True),
        "auto_join": Choice("local", ("local", "none")),
        "sync_timeout_ms": Int(30_000, lo=1_000, hi=300_000),
    })
    values = BOTS.validate(raw)          # {"enabled": True, ...}; unknown keys are errors

A field validates one value; nested sections are a `Schema` used as a field. Sections with
free-form keys (room ids, kind names) use `Mapping(value_field)`. `Custom(fn, default)` wraps a
feature's own parser (fn(value, path) → parsed) so that odd shapes still report the same way.
`Raw()` only checks that a value is a mapping and hands it on untouched: the top level of
yakuba.yaml uses it for the features' sections, which each feature validates itself.

A key given as null (`key:` with nothing after it in YAML) counts as not given: it takes the
default. A key without a default is required; a nested `Schema` without a default is an empty
section unless `required=True` ("missing section"). A default that is callable (`dict`, `list`)
is called, so no two results share a mutable default.

Bounds: `Int`/`Number` take `lo`/`hi` (inclusive); `Number(gt=0)` is an exclusive lower bound,
for values where 0 means nothing useful (a threshold, a size). `List(nonempty=True)` refuses [].
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any

from appservice.core.configerror import ConfigError

_MISSING: Any = object()


class Field:
    default: Any = _MISSING

    def check(self, value: Any, path: str) -> Any:
        raise NotImplementedError


def _range(lo: float | None, hi: float | None, gt: float | None = None) -> str:
    if gt is not None:
        return f"> {gt}" + ("" if hi is None else f" and ≤ {hi}")
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


def _fail(path: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(path, f"expected {expected}, got {value!r}"[:300])


@dataclass
class Bool(Field):
    default: Any = _MISSING

    def check(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):  # "no", 0, "false" are typos here, not false
            raise _fail(path, "true or false", value)
        return value


@dataclass
class Int(Field):
    default: Any = _MISSING
    lo: int | None = None
    hi: int | None = None

    def check(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or \
                (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise _fail(path, f"an integer {_range(self.lo, self.hi)}", value)
        return value


@dataclass
class Number(Field):
    default: Any = _MISSING
    lo: float | None = None
    hi: float | None = None
    gt: float | None = None  # exclusive lower bound

    def check(self, value: Any, path: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or \
                (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi) or \
                (self.gt is not None and value <= self.gt):
            raise _fail(path, f"a number {_range(self.lo, self.hi, self.gt)}", value)
        return float(value)


@dataclass
class Str(Field):
    default: Any = _MISSING
    pattern: str | None = None
    nonempty: bool = True

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str) or (self.nonempty and not value):
            raise _fail(path, "a non-empty string" if self.nonempty else "a string", value)
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise _fail(path, f"a string matching {self.pattern}", value)
        return value


@dataclass
class Choice(Field):
    default: Any = _MISSING
    options: tuple[Any, ...] = ()

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, bool) or value not in self.options:
            raise ConfigError(path, f"expected one of {', '.join(map(str, self.options))}, got {value!r}"[:300])
        return value


@dataclass
class List(Field):
    item: Field
    default: Any = _MISSING
    nonempty: bool = False

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or (self.nonempty and not value):
            raise _fail(path, "a non-empty list" if self.nonempty else "a list", value)
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]


@dataclass
class Mapping(Field):
    """Free-form keys (room ids, kinds…), each value checked by `value`."""

    value: Field
    default: Any = _MISSING
    key: Field | None = None

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _fail(path, "a mapping", value)
        out = {}
        for k, v in value.items():
            if self.key is not None:
                self.key.check(k, f"{path}.{k}")
            out[str(k)] = self.value.check(v, f"{path}.{k}")
        return out


@dataclass
class Custom(Field):
    fn: Callable[[Any, str], Any]
    default: Any = _MISSING

    def check(self, value: Any, path: str) -> Any:
        return self.fn(value, path)


@dataclass
class Raw(Field):
    """A mapping validated elsewhere (a feature's own section): checked to be a mapping and
    returned as it is."""

    default: Any = dict

    def check(self, value: Any, path: str) -> dict[Any, Any]:
        if not isinstance(value, dict):
            raise _fail(path, "a mapping", value)
        return value


@dataclass
class Schema(Field):
    """A section: known keys only, each with its field; missing keys take the field's default
    (a key without a default is required). Used as a field, a section without a default is
    empty when absent, or an error ("missing section") when `required`."""

    name: str
    fields: dict[str, Field] = field(default_factory=dict)
    default: Any = _MISSING
    required: bool = False

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, MappingABC):
            raise _fail(path, "a mapping", value)
        unknown = sorted(str(k) for k in value if k not in self.fields)
        if unknown:
            prefix = f"{path}." if path else ""
            raise ConfigError(f"{prefix}{unknown[0]}", f"unknown key (known: {', '.join(sorted(self.fields))})")
        out: dict[str, Any] = {}
        for key, f in self.fields.items():
            sub = f"{path}.{key}" if path else key
            if key in value and value[key] is not None:
                out[key] = f.check(value[key], sub)
            elif f.default is not _MISSING:
                out[key] = f.default() if callable(f.default) else f.default
            elif isinstance(f, Schema) and f.required:
                raise ConfigError(sub, "missing section")
            elif isinstance(f, Schema):
                out[key] = f.check({}, sub)
            else:
                raise ConfigError(sub, "missing (required)")
        return out

    def validate(self, raw: Any) -> dict[str, Any]:
        return self.check(raw, self.name)

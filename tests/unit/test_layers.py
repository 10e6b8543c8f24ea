"""The layer rules, read from the tree (ast, so imports under TYPE_CHECKING and inside functions
count too):

- appservice/lib is pure: it imports nothing of appservice.core/matrix/features/app, except the
  message catalogs (appservice.core.i18n — the work calendar's texts) and ConfigError
  (appservice.core.configerror — the work calendar's config validation).
- appservice/core imports neither appservice.features nor appservice.app. It imports
  appservice.matrix in one place only: core/services.py, the bundle of what effects may use,
  carries the MatrixClient and the Sender.
- appservice/matrix imports neither appservice.features nor appservice.app.
- a feature (appservice/features/<name>/, and bots/) imports no other feature's folder and not
  appservice.app.
- no `feature_*.py` at the top of appservice/ (features live in appservice/features/<name>/).
- no module-level registries: `REGISTRY`, `OFFER_ACTIONS`, `register_schema`, `extras[` are gone
  (the application assembles commands, offers, schemas and effects per service).

A case the current tree breaks is marked xfail(strict=True) with the reason, so fixing it turns
the test red until the mark is removed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "appservice"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def imports(path: Path) -> tuple[str, ...]:
    """Every module a file imports, relative imports resolved (`from . import x` → package.x)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            out.append(stem)
            out.extend(f"{stem}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return tuple(out)


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def under(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offending(path: Path, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return sorted({i for i in imports(path) if under(i, *forbidden) and not under(i, *allowed)})


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_tree_is_where_the_rules_expect_it() -> None:
    for folder in ("core", "matrix", "features", "lib", "app"):
        assert (APP / folder / "__init__.py").is_file(), folder
    assert (ROOT / "bots" / "feature.py").is_file()
    assert imports(APP / "features" / "screenshots" / "policy.py")  # the reader finds imports


# -- lib ----------------------------------------------------------------------------------------

LIB_ALLOWED = ("appservice.core.i18n", "appservice.core.configerror")


@pytest.mark.parametrize("path", modules(APP / "lib"), ids=rel)
def test_lib_is_pure(path: Path) -> None:
    forbidden = ("appservice.core", "appservice.matrix", "appservice.features", "appservice.app", "bots")
    assert offending(path, forbidden, LIB_ALLOWED) == []


def test_libs_exceptions_are_still_used() -> None:
    """The two allowed core imports are real (drop them from LIB_ALLOWED when they go)."""
    used = {i for p in modules(APP / "lib") for i in imports(p) if under(i, *LIB_ALLOWED)}
    assert {next(a for a in LIB_ALLOWED if under(i, a)) for i in used} == set(LIB_ALLOWED)


# -- core and matrix --------------------------------------------------------------------------

@pytest.mark.parametrize("path", modules(APP / "core"), ids=rel)
def test_core_imports_no_feature_and_no_app(path: Path) -> None:
    assert offending(path, ("appservice.features", "appservice.app", "bots")) == []


@pytest.mark.parametrize("path", modules(APP / "core"), ids=rel)
def test_core_imports_matrix_only_in_services(path: Path) -> None:
    if path == APP / "core" / "services.py":
        pytest.skip("Services carries the MatrixClient and the Sender")
    assert offending(path, ("appservice.matrix",)) == []


@pytest.mark.parametrize("path", modules(APP / "matrix"), ids=rel)
def test_matrix_imports_no_feature_and_no_app(path: Path) -> None:
    assert offending(path, ("appservice.features", "appservice.app", "bots")) == []


# -- features ---------------------------------------------------------------------------------

def feature_folders() -> Iterator[tuple[str, Path, str]]:
    """(feature name, folder, its package) for appservice/features/<name>/ and bots/."""
    for folder in sorted(p for p in (APP / "features").iterdir() if (p / "__init__.py").is_file()):
        yield folder.name, folder, f"appservice.features.{folder.name}"
    yield "bots", ROOT / "bots", "bots"


def feature_files() -> list[object]:
    known: dict[str, str] = {}  # path → why it may break the rule (none today)
    cases: list[object] = []
    for name, folder, package in feature_folders():
        for path in modules(folder):
            marks = [pytest.mark.xfail(strict=True, reason=known[rel(path)])] if rel(path) in known else []
            cases.append(pytest.param(name, package, path, id=rel(path), marks=marks))
    return cases


@pytest.mark.parametrize(("name", "package", "path"), feature_files())
def test_a_feature_imports_no_other_feature_and_not_the_app(name: str, package: str, path: Path) -> None:
    others = tuple(p for n, _, p in feature_folders() if n != name)
    assert offending(path, (*others, "appservice.app")) == []


def test_no_feature_modules_at_the_top_of_appservice() -> None:
    assert sorted(p.name for p in APP.glob("feature_*.py")) == []


# -- no import-time registries ----------------------------------------------------------------

REGISTRY_NAMES = ("REGISTRY", "OFFER_ACTIONS", "register_schema")


def names_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.add(node.asname or node.name.rpartition(".")[2])
    return out


def code_files() -> list[Path]:
    return modules(APP) + modules(ROOT / "bots")


@pytest.mark.parametrize("path", code_files(), ids=rel)
def test_no_module_level_registries(path: Path) -> None:
    assert sorted(names_in(path) & set(REGISTRY_NAMES)) == []
    assert not re.search(r"\bextras\[", path.read_text(encoding="utf-8"))

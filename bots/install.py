"""Placeholder until the E2EE bot runtime lands."""

from __future__ import annotations

from typing import Any


def install(svc: Any) -> None:
    return None
